package lpwindowtest

import (
	"strings"
	"sync"
	"time"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// The built-in bot (Options.Bot) joins every new conversation as its
// ASSIGNED_AGENT and greets the consumer. To each consumer text it sends
// ACCEPT and READ receipts, types for a moment (COMPOSING, then ACTIVE)
// and answers:
//
//	"help"          the commands, with quick replies
//	"close" / "bye" a goodbye, then it closes the conversation
//	anything else   "You said: <text>"
type bot struct {
	s     *Server
	agent *Agent
	queue chan *Event
	quit  chan struct{}
	wg    sync.WaitGroup
}

// BotName is the bot's display name.
const BotName = "lpwindowtest bot"

// BotGreeting is the bot's first message in every conversation.
const BotGreeting = "Hi! I'm the lpwindowtest bot. Say anything and I'll echo it; say \"help\" for more."

func startBot(s *Server) *bot {
	b := &bot{s: s, agent: s.NewAgent(BotName), queue: make(chan *Event, 4096), quit: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// BotAgent returns the built-in bot's agent, or nil without Options.Bot.
func (s *Server) BotAgent() *Agent {
	if s.bot == nil {
		return nil
	}
	return s.bot.agent
}

func (b *bot) stop() {
	close(b.quit)
	b.wg.Wait()
}

// joinLocked joins a new conversation and greets (state lock held).
func (b *bot) joinLocked(t *tx, c *conversation) {
	if b.agent.joinLocked(t, c) != nil {
		return
	}
	raw := []byte(`{"type":"ContentEvent","contentType":"text/plain","message":` + string(wire.AppendString(nil, BotGreeting)) + `}`)
	b.s.state.addEvent(t, c.main(), &Event{OriginatorID: b.agent.id, Role: "ASSIGNED_AGENT", ConversationID: c.id, DialogID: c.id, Event: raw})
}

// observe queues consumer texts in conversations the bot is assigned to
// (state lock held; never blocks: the bot skips what it cannot queue).
func (b *bot) observe(e *Event) {
	if e.Role != "CONSUMER" || e.Text() == "" {
		return
	}
	c := b.s.state.byDlg[e.DialogID]
	if c == nil || c.assignedAgent() != b.agent.id || e.DialogID != c.id {
		return
	}
	select {
	case b.queue <- e:
	default:
		b.s.log.Warn("lpwindowtest: bot queue full; a message goes unanswered")
	}
}

func (b *bot) run() {
	defer b.wg.Done()
	for {
		select {
		case <-b.quit:
			return
		case e := <-b.queue:
			b.answer(e)
		}
	}
}

func (b *bot) answer(e *Event) {
	a, conv := b.agent, e.ConversationID
	_, _ = a.Accept(conv, e.Sequence)
	_, _ = a.Read(conv, e.Sequence)
	_ = a.SetChatState(conv, "COMPOSING")
	select {
	case <-time.After(20 * time.Millisecond):
	case <-b.quit:
		return
	}
	_ = a.SetChatState(conv, "ACTIVE")
	text := strings.TrimSpace(e.Text())
	switch strings.ToLower(text) {
	case "help":
		_, _ = a.SendQuickReplies(conv, "I echo what you say. Try one of these:", []QuickReply{{Title: "hello"}, {Title: "bye"}})
	case "close", "bye":
		_, _ = a.SendText(conv, "Goodbye!")
		_ = a.Close(conv)
	default:
		_, _ = a.SendText(conv, "You said: "+text)
	}
}
