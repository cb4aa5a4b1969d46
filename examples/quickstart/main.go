// Command quickstart will open a conversation with a bot on the embedded
// fake LivePerson (lpwindowtest) and print the transcript. Until that fake
// exists it only checks that the SDK's configuration validation works.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/lpwindow/lpwindow"
)

func main() {
	_, err := lpwindow.Dial(context.Background(), lpwindow.Config{})
	if !errors.Is(err, lpwindow.ErrInvalidConfig) {
		fmt.Fprintln(os.Stderr, "unexpected:", err)
		os.Exit(1)
	}
	fmt.Println("lpwindow: the quick start needs the fake LivePerson (lpwindowtest), which is not built yet.")
}
