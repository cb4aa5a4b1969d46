package lpwindow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
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

// consumerOnFake connects a new consumer to a fresh fake LivePerson.
func consumerOnFake(opts lpwindowtest.Options) (*lpwindowtest.Server, *lpwindow.Conn) {
	srv, err := lpwindowtest.NewServer(opts)
	if err != nil {
		log.Fatal(err)
	}
	jwt, _, err := srv.IssueToken()
	if err != nil {
		log.Fatal(err)
	}
	ts, err := lpwindow.StaticToken(jwt)
	if err != nil {
		log.Fatal(err)
	}
	c, err := lpwindow.Dial(context.Background(), srv.Config(ts))
	if err != nil {
		log.Fatal(err)
	}
	return srv, c
}

func ExampleConn_OpenConversation() {
	srv, c := consumerOnFake(lpwindowtest.Options{Bot: true}) // the bot echoes
	defer srv.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{AutoAccept: true})
	if err != nil {
		log.Fatal(err)
	}
	greeting, err := conv.WaitFor(ctx, lpwindow.IsAgentText)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("agent:", greeting.Message.Event.Text)
	if _, err := conv.SendText(ctx, "Hello!"); err != nil {
		log.Fatal(err)
	}
	reply, err := conv.WaitFor(ctx, lpwindow.IsAgentText)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("agent:", reply.Message.Event.Text)
	if err := conv.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// agent: Hi! I'm the lpwindowtest bot. Say anything and I'll echo it; say "help" for more.
	// agent: You said: Hello!
}

func ExampleConversation_Next() {
	srv, c := consumerOnFake(lpwindowtest.Options{})
	defer srv.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	if err != nil {
		log.Fatal(err)
	}
	agent := srv.NewAgent("Ann")
	_ = agent.Join(conv.ID())
	_ = agent.SetChatState(conv.ID(), "COMPOSING")
	_, _ = agent.SendText(conv.ID(), "How can I help?")

	for {
		ev, err := conv.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case lpwindow.KindMetadata:
			for _, ch := range ev.Changes {
				if ch.Kind == lpwindow.ChangeAgentJoined {
					fmt.Println("an agent joined")
				}
			}
		case lpwindow.KindChatState:
			fmt.Println("typing:", ev.Message.Event.ChatState == lpwindow.ChatComposing)
		case lpwindow.KindMessage:
			fmt.Printf("message %d: %s\n", ev.Message.Sequence, ev.Message.Event.Text)
			return
		}
	}
	// Output:
	// an agent joined
	// typing: true
	// message 0: How can I help?
}

func ExampleConversation_Answer() {
	srv, c := consumerOnFake(lpwindowtest.Options{})
	defer srv.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	if err != nil {
		log.Fatal(err)
	}
	agent := srv.NewAgent("Ann")
	_ = agent.Join(conv.ID())
	_, _ = agent.SendQuickReplies(conv.ID(), "Shipping or billing?", []lpwindowtest.QuickReply{{Title: "Shipping"}, {Title: "Billing"}})

	q, err := conv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool {
		return lpwindow.IsAgentText(ev) && ev.Message.Event.QuickReplies != nil
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range q.Message.Event.QuickReplies.Replies {
		fmt.Println("option:", b.Title)
	}
	// An ACTION receipt for the question, then the button's text.
	if err := conv.Answer(ctx, q.Message, q.Message.Event.QuickReplies.Replies[1]); err != nil {
		log.Fatal(err)
	}
	e, err := srv.WaitEvent(ctx, conv.ID(), "", func(e *lpwindowtest.Event) bool { return e.Role == "CONSUMER" && e.Text() != "" })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the agent got:", e.Text())
	// Output:
	// option: Shipping
	// option: Billing
	// the agent got: Billing
}
