// Command chat is an interactive terminal chat with a LivePerson agent: on
// the embedded fake LivePerson (and its echo bot) by default, or on
// LivePerson itself with LP_ACCOUNT set (see examples/internal/lpenv).
//
//	go run ./examples/chat
//
// Type a line to send it. Commands:
//
//	/1, /2 …   answer the last quick-reply question with that option
//	/file PATH share an image (JPG, PNG or GIF, up to 3 MB)
//	/typing    tell the agent you are typing
//	/urgent    ask for an urgent response
//	/close     close the conversation (a survey may follow)
//	/quit      leave; the conversation stays open and resumes next time
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/examples/internal/lpenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// chat holds what the two loops share.
type chat struct {
	mu       sync.Mutex
	question *lpwindow.MessagingEvent // the last question with quick replies
	out      io.Writer
}

func (ch *chat) printf(format string, args ...any) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	fmt.Fprintf(ch.out, format, args...)
}

func run(ctx context.Context, in io.Reader, out io.Writer) error {
	cfg, cleanup, err := lpenv.Config(ctx, out)
	if err != nil {
		return err
	}
	defer cleanup()
	c, err := lpwindow.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	conv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{AutoAccept: true})
	if err != nil {
		return err
	}
	ch := &chat{out: out}
	ch.printf("conversation %s; type a message, /quit to leave\n", conv.ID())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	closed := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the stream
		defer wg.Done()
		ch.receive(ctx, conv, closed)
	}()
	defer wg.Wait()
	defer cancel()

	lines := make(chan string)
	go func() { // stdin: a blocked read ends with the input or the process
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			ch.printf("the conversation is over\n")
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if quit, err := ch.handle(ctx, conv, strings.TrimSpace(line)); err != nil {
				ch.printf("! %v\n", err)
			} else if quit {
				return nil
			}
		}
	}
}

// handle acts on one typed line; it reports whether to quit.
func (ch *chat) handle(ctx context.Context, conv *lpwindow.Conversation, line string) (bool, error) {
	switch {
	case line == "":
		return false, nil
	case line == "/quit":
		return true, nil
	case line == "/close":
		return false, conv.Close(ctx)
	case line == "/typing":
		return false, conv.Typing(ctx, true)
	case line == "/urgent":
		return false, conv.MarkUrgent(ctx)
	case strings.HasPrefix(line, "/file "):
		return false, ch.sendFile(ctx, conv, strings.TrimSpace(line[len("/file "):]))
	case strings.HasPrefix(line, "/"):
		n, err := strconv.Atoi(line[1:])
		ch.mu.Lock()
		q := ch.question
		ch.mu.Unlock()
		if err != nil || q == nil || n < 1 || n > len(q.Event.QuickReplies.Replies) {
			return false, fmt.Errorf("unknown command %s", line)
		}
		return false, conv.Answer(ctx, q, q.Event.QuickReplies.Replies[n-1])
	}
	_, err := conv.SendText(ctx, line)
	return false, err
}

// sendFile uploads and shares the image at path.
func (ch *chat) sendFile(ctx context.Context, conv *lpwindow.Conversation, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sent, err := conv.SendFile(ctx, f, lpwindow.FileUpload{Caption: filepath.Base(path)})
	if err != nil {
		return err
	}
	ch.printf("(sent %s: %d bytes, %s)\n", filepath.Base(path), sent.Size, sent.Type)
	return nil
}

// receive prints the stream until ctx ends; it closes closed when the
// conversation's stage closes.
func (ch *chat) receive(ctx context.Context, conv *lpwindow.Conversation, closed chan<- struct{}) {
	for {
		ev, err := conv.Next(ctx)
		if err != nil {
			return
		}
		switch ev.Kind {
		case lpwindow.KindMessage:
			e := ev.Message.Event
			if e.Type != lpwindow.EventContent || ev.Mine {
				continue
			}
			switch {
			case e.File != nil:
				ch.printf("agent sent a file: %s (%s)\n", e.File.Caption, e.File.RelativePath)
			default:
				ch.printf("agent: %s\n", e.Text)
			}
			if e.QuickReplies != nil {
				ch.mu.Lock()
				ch.question = ev.Message
				ch.mu.Unlock()
				for i, b := range e.QuickReplies.Replies {
					ch.printf("   /%d %s\n", i+1, b.Title)
				}
			}
			_ = conv.MarkRead(ctx, ev.Dialog, ev.Message.Sequence)
		case lpwindow.KindChatState:
			if !ev.Mine && ev.Message.Event.ChatState == lpwindow.ChatComposing {
				ch.printf("(typing…)\n")
			}
		case lpwindow.KindGap:
			ch.printf("(messages %d-%d could not be delivered)\n", ev.GapFrom, ev.GapTo)
		case lpwindow.KindMetadata:
			for _, c := range ev.Changes {
				switch c.Kind {
				case lpwindow.ChangeAgentJoined:
					ch.printf("(an agent joined)\n")
				case lpwindow.ChangeAgentLeft:
					ch.printf("(the agent left)\n")
				case lpwindow.ChangeDialogOpened:
					ch.printf("(a %s dialog opened)\n", strings.ToLower(string(c.Dialog.Type)))
				case lpwindow.ChangeInvitation:
					ch.printf("(the agent invites you to %s; accept it in the web page)\n", c.Dialog.Invitation.Mode)
				}
			}
			if ev.Info.Stage == lpwindow.ConversationClose {
				close(closed)
				return
			}
		}
	}
}
