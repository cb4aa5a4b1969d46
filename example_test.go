package lpwindow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/lpwindow/lpwindow"
)

func ExampleDial() {
	ctx := context.Background()
	token, err := lpwindow.StaticToken("<consumer JWT>")
	if err != nil {
		log.Fatal(err)
	}
	c, err := lpwindow.Dial(ctx, lpwindow.Config{
		Account: "12345678",
		Domains: lpwindow.Domains{AsyncMessagingEnt: "va.msg.liveperson.net"},
		Token:   token,
		ClientProperties: lpwindow.ClientProperties{
			DeviceFamily: lpwindow.DeviceDesktop,
			OS:           lpwindow.OSLinux,
			Features:     []lpwindow.Feature{lpwindow.FeatureRichContent, lpwindow.FeatureQuickReplies},
		},
		OnStateChange: func(sc lpwindow.StateChange) { log.Printf("connection %v (%v)", sc.State, sc.Err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

func ExampleConn_Request() {
	var c *lpwindow.Conn // from Dial
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Request(ctx, "cm.ConsumerRequestConversation", map[string]any{"channelType": "MESSAGING"})
	switch {
	case errors.Is(err, lpwindow.ErrRateLimited):
		// back off at least a second
	case errors.Is(err, lpwindow.ErrConnectionLost):
		// the socket dropped; errors.Is(err, lpwindow.ErrOutcomeUnknown)
		// says whether the server may have acted on it
	case err != nil:
		log.Fatal(err)
	}
	var body struct {
		ConversationID string `json:"conversationId"`
	}
	if err := resp.Decode(&body); err != nil {
		log.Fatal(err)
	}
	fmt.Println("conversation", body.ConversationID)
}

func ExampleConn_Subscribe() {
	var c *lpwindow.Conn // from Dial
	sub, err := c.Subscribe("ms.MessagingEventNotification", func(n *lpwindow.Notification) {
		fmt.Printf("%s: %s\n", n.Type, n.Body)
	}, lpwindow.WithQueueSize(4096))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Unsubscribe()
}
