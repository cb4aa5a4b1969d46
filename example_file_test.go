package lpwindow_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"time"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// Share an image and fetch it back (an agent's files are fetched the same
// way, with DownloadFile on the incoming event).
func ExampleConversation_SendFile() {
	srv, c := consumerOnFake(lpwindowtest.Options{})
	defer srv.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	if err != nil {
		log.Fatal(err)
	}

	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		log.Fatal(err)
	}
	sent, err := conv.SendFile(ctx, bytes.NewReader(img.Bytes()), lpwindow.FileUpload{Caption: "my receipt"})
	if err != nil {
		log.Fatal(err) // nothing was published
	}
	fmt.Println("sent a", sent.Type, "with a preview:", sent.Preview != "")

	rc, err := c.Download(ctx, sent.RelativePath, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	back, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("downloaded the same bytes:", bytes.Equal(back, img.Bytes()))
	// Output:
	// sent a PNG with a preview: true
	// downloaded the same bytes: true
}
