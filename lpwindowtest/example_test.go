package lpwindowtest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func ExampleNewServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := lpwindowtest.NewServer(lpwindowtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	jwt, consumerID, err := srv.IssueToken()
	if err != nil {
		log.Fatal(err)
	}
	ts, err := lpwindow.StaticToken(jwt)
	if err != nil {
		log.Fatal(err)
	}
	c, err := lpwindow.Dial(ctx, srv.Config(ts))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Request(ctx, "cm.ConsumerRequestConversation", nil); err != nil {
		log.Fatal(err)
	}

	// The agent side, in Go.
	agent := srv.NewAgent("Ann")
	convID, err := srv.WaitConversation(ctx, consumerID, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := agent.Join(convID); err != nil {
		log.Fatal(err)
	}
	seq, err := agent.SendQuickReplies(convID, "Pick one", []lpwindowtest.QuickReply{{Title: "A"}, {Title: "B"}})
	if err != nil {
		log.Fatal(err)
	}
	conv, _ := srv.Conversation(convID)
	fmt.Println(conv.State, conv.Participants[1].Role, seq)
	// Output: OPEN ASSIGNED_AGENT 0
}
