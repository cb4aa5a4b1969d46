package lpwindow_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// nextMetadata waits for a metadata event holding a change of kind k.
func nextChange(t *testing.T, cv *lpwindow.Conversation, k lpwindow.ChangeKind) lpwindow.Change {
	t.Helper()
	var found lpwindow.Change
	_, err := cv.WaitFor(tctx(t), func(ev lpwindow.ConversationEvent) bool {
		for _, ch := range ev.Changes {
			if ch.Kind == k {
				found = ch
				return true
			}
		}
		return false
	})
	require.NoError(t, err, "waiting for %s", k)
	return found
}

func nextText(t *testing.T, cv *lpwindow.Conversation, substr string) *lpwindow.MessagingEvent {
	t.Helper()
	ev, err := cv.WaitFor(tctx(t), func(ev lpwindow.ConversationEvent) bool {
		return lpwindow.IsAgentText(ev) && strings.Contains(ev.Message.Event.Text, substr)
	})
	require.NoError(t, err, "waiting for %q", substr)
	return ev.Message
}

func TestConversationWithAnAgent(t *testing.T) {
	s, c, _ := fake(t, lpwindowtest.Options{})
	s.EnableSurvey(
		lpwindowtest.SurveyQuestion{ID: "q1", Text: "How did we do?", Answers: []string{"1", "5"}},
		lpwindowtest.SurveyQuestion{ID: "q2", Text: "Resolved?", Answers: []string{"Yes", "No"}},
	)
	ctx := tctx(t)
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{AutoAccept: true, Request: lpwindow.ConversationRequest{SkillID: "sales"}})
	require.NoError(t, err)
	nextChange(t, cv, lpwindow.ChangeState)

	ann := s.NewAgent("Ann")
	require.NoError(t, ann.Join(cv.ID()))
	joined := nextChange(t, cv, lpwindow.ChangeAgentJoined)
	assert.Equal(t, ann.ID(), joined.Participant.ID)

	_, err = cv.SendText(ctx, "hello")
	require.NoError(t, err)
	ev, err := cv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool { return ev.Kind == lpwindow.KindMessage })
	require.NoError(t, err)
	assert.True(t, ev.Mine, "the consumer's own echo is marked")
	assert.Equal(t, "hello", ev.Message.Event.Text)

	require.NoError(t, ann.SetChatState(cv.ID(), "COMPOSING"))
	ev, err = cv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool { return ev.Kind == lpwindow.KindChatState })
	require.NoError(t, err)
	assert.Equal(t, lpwindow.ChatComposing, ev.Message.Event.ChatState)
	assert.False(t, ev.Mine)

	seq, err := ann.SendText(cv.ID(), "how can I help?")
	require.NoError(t, err)
	msg := nextText(t, cv, "how can I help?")
	assert.Equal(t, seq, msg.Sequence)
	// AutoAccept sent an ACCEPT as the event reached the app; READ on demand.
	_, err = s.WaitEvent(ctx, cv.ID(), "", func(e *lpwindowtest.Event) bool { return strings.Contains(string(e.Event), `"ACCEPT"`) })
	require.NoError(t, err)
	require.NoError(t, cv.MarkRead(ctx, "", msg.Sequence))
	_, err = s.WaitEvent(ctx, cv.ID(), "", func(e *lpwindowtest.Event) bool { return strings.Contains(string(e.Event), `"READ"`) })
	require.NoError(t, err)
	require.NoError(t, cv.Typing(ctx, true))
	require.NoError(t, cv.Typing(ctx, false))
	require.NoError(t, cv.Signal(ctx, map[string]string{"page": "checkout"}))

	// Urgency, then a transfer to another skill and agent.
	require.NoError(t, cv.MarkUrgent(ctx))
	nextChange(t, cv, lpwindow.ChangeTTR)
	info, _ := cv.Info()
	assert.Equal(t, lpwindow.TTRUrgent, info.TTR.Type)
	require.NoError(t, ann.Transfer(cv.ID(), "billing"))
	left := nextChange(t, cv, lpwindow.ChangeAgentLeft)
	assert.Equal(t, ann.ID(), left.Participant.ID)
	info, _ = cv.Info()
	assert.Equal(t, "billing", info.SkillID)
	bo := s.NewAgent("Bo")
	require.NoError(t, bo.Join(cv.ID()))
	nextChange(t, cv, lpwindow.ChangeAgentJoined)

	// A CoBrowse invitation surfaces as a typed dialog.
	_, err = bo.InviteCoBrowse(cv.ID(), "view")
	require.NoError(t, err)
	inv := nextChange(t, cv, lpwindow.ChangeInvitation)
	assert.Equal(t, "view", inv.Dialog.Invitation.Mode)
	assert.Equal(t, "INVITED", inv.Dialog.Invitation.SessionState)

	// The agent closes; the survey dialog opens and is followed.
	require.NoError(t, bo.Close(cv.ID()))
	opened := nextChange(t, cv, lpwindow.ChangeDialogOpened)
	assert.Equal(t, lpwindow.DialogPostSurvey, opened.Dialog.Type)
	info, _ = cv.Info()
	assert.Equal(t, lpwindow.ConversationClose, info.State)
	assert.Equal(t, lpwindow.ConversationOpen, info.Stage)
	for _, answer := range []string{"5", "Yes"} {
		q, err := cv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool {
			return lpwindow.IsAgentText(ev) && ev.Message.Event.QuickReplies != nil
		})
		require.NoError(t, err)
		assert.Equal(t, opened.Dialog.ID, q.Dialog)
		var button lpwindow.Button
		for _, b := range q.Message.Event.QuickReplies.Replies {
			if b.Title == answer {
				button = b
			}
		}
		require.Equal(t, answer, button.Title)
		require.NoError(t, cv.Answer(ctx, q.Message, button))
	}
	nextText(t, cv, "Thank you")
	closed := nextChange(t, cv, lpwindow.ChangeDialogClosed)
	assert.Equal(t, "Completed", closed.Dialog.ClosedCause)
	info, _ = cv.Info()
	assert.Equal(t, lpwindow.ConversationClose, info.Stage)
	answers := s.SurveyAnswers(cv.ID())
	require.Len(t, answers, 2)
	assert.Equal(t, "5", answers[0].Text)
	assert.Contains(t, string(answers[0].Metadata), `"questionId":"q1"`, "the answer carries the button's click metadata")
	events := s.Events(cv.ID(), opened.Dialog.ID)
	var actions int
	for _, e := range events {
		if strings.Contains(string(e.Event), `"ACTION"`) {
			actions++
			assert.Contains(t, string(e.Metadata), `"Answer"`)
		}
	}
	assert.Equal(t, 2, actions, "one ACTION receipt per answer")

	require.NoError(t, cv.RateCSAT(ctx, 5, true))
	nextChange(t, cv, lpwindow.ChangeCSAT)
}

func TestConversationResumeAndReplay(t *testing.T) {
	s, err := lpwindowtest.NewServer(lpwindowtest.Options{})
	require.NoError(t, err)
	defer s.Close()
	jwt, _, err := s.IssueToken()
	require.NoError(t, err)
	ts, _ := lpwindow.StaticToken(jwt)
	ctx := tctx(t)
	c1, err := lpwindow.Dial(ctx, s.Config(ts))
	require.NoError(t, err)
	cv1, err := c1.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	a := s.NewAgent("A")
	require.NoError(t, a.Join(cv1.ID()))
	for _, m := range []string{"one", "two", "three"} {
		_, err := a.SendText(cv1.ID(), m)
		require.NoError(t, err)
	}
	c1.Close()

	// A new connection resumes the same conversation and gets its history
	// in order.
	c2, err := lpwindow.Dial(ctx, s.Config(ts))
	require.NoError(t, err)
	defer c2.Close()
	cv2, err := c2.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	assert.Equal(t, cv1.ID(), cv2.ID())
	for _, m := range []string{"one", "two", "three"} {
		assert.Equal(t, m, nextText(t, cv2, "").Event.Text)
	}
	// New asks for a new conversation even with one open: the fake, like
	// LivePerson, refuses while one is open.
	_, err = c2.OpenConversation(ctx, lpwindow.ConversationOptions{New: true})
	assert.ErrorIs(t, err, lpwindow.ErrBadRequest)
}

func TestTwoConversationsOnOneConnection(t *testing.T) {
	s, c, _ := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	first, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	a := s.NewAgent("A")
	require.NoError(t, a.Join(first.ID()))
	_, err = a.SendText(first.ID(), "first conversation")
	require.NoError(t, err)
	assert.Equal(t, "first conversation", nextText(t, first, "").Event.Text)
	require.NoError(t, first.CloseAll(ctx))
	_, err = first.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool {
		return ev.Kind == lpwindow.KindMetadata && ev.Info.Stage == lpwindow.ConversationClose
	})
	require.NoError(t, err)

	second, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, first.ID(), second.ID(), "a closed conversation is not resumed")
	require.NoError(t, a.Join(second.ID()))
	_, err = a.SendText(second.ID(), "second conversation")
	require.NoError(t, err)
	assert.Equal(t, "second conversation", nextText(t, second, "").Event.Text)
	// Nothing of the second reaches the first.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = first.WaitFor(short, lpwindow.IsAgentText)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConversationOrderUnderDuplicatesAndReordering(t *testing.T) {
	s, c, _ := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	a := s.NewAgent("A")
	require.NoError(t, a.Join(cv.ID()))
	s.SetNotificationFaults(lpwindowtest.NotificationFaults{Duplicate: 0.3, Reorder: 0.3, Seed: 42})
	const n = 200
	for i := range n {
		_, err := a.SendText(cv.ID(), "m"+itoa(i))
		require.NoError(t, err)
	}
	s.SetNotificationFaults(lpwindowtest.NotificationFaults{})
	_, err = a.SendText(cv.ID(), "end")
	require.NoError(t, err)
	for i := range n {
		assert.Equal(t, "m"+itoa(i), nextText(t, cv, "").Event.Text)
	}
	assert.Equal(t, "end", nextText(t, cv, "").Event.Text)
}

func TestConversationReportsGaps(t *testing.T) {
	s, c, me := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{GapTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	// Sequences 0-2 never arrive; 3 does.
	frame := `{"kind":"notification","type":"ms.MessagingEventNotification","body":{"changes":[{"sequence":3,"originatorId":"agent","dialogId":"` +
		cv.ID() + `","conversationId":"` + cv.ID() + `","serverTimestamp":1,"event":{"type":"ContentEvent","contentType":"text/plain","message":"late"}}]}}`
	s.SendRaw(me, []byte(frame))
	ev, err := cv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool { return ev.Kind == lpwindow.KindGap })
	require.NoError(t, err)
	assert.Equal(t, 0, ev.GapFrom)
	assert.Equal(t, 2, ev.GapTo)
	assert.Equal(t, "late", nextText(t, cv, "").Event.Text)
}

func TestConversationQueueOverflowIsVisible(t *testing.T) {
	s, err := lpwindowtest.NewServer(lpwindowtest.Options{})
	require.NoError(t, err)
	defer s.Close()
	jwt, _, _ := s.IssueToken()
	ts, _ := lpwindow.StaticToken(jwt)
	errs := make(chan error, 10)
	cfg := s.Config(ts)
	cfg.OnError = func(err error) { errs <- err }
	ctx := tctx(t)
	c, err := lpwindow.Dial(ctx, cfg)
	require.NoError(t, err)
	defer c.Close()
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{QueueSize: 5})
	require.NoError(t, err)
	a := s.NewAgent("A")
	for i := range 20 {
		_, err := a.SendText(cv.ID(), "x"+itoa(i))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return cv.Dropped() > 0 }, 5*time.Second, 5*time.Millisecond)
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, lpwindow.ErrSlowConsumer)
	case <-time.After(5 * time.Second):
		t.Fatal("overflow not reported")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestAgentProfile(t *testing.T) {
	s, c, _ := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	a := s.NewAgent("Ann Agent")
	p, err := c.AgentProfile(ctx, a.ID())
	require.NoError(t, err)
	assert.Equal(t, a.ID(), p.ID)
	assert.Equal(t, "Ann Agent", p.Nickname)
	assert.NotEmpty(t, p.PictureURL)
	_, err = c.AgentProfile(ctx, "nobody")
	assert.ErrorIs(t, err, lpwindow.ErrNotFound)
	var he *lpwindow.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "acCdnDomain", he.Service)
	_, err = c.AgentProfile(ctx, "")
	assert.ErrorIs(t, err, lpwindow.ErrInvalidRequest)
}

func TestNextFailsWhenTheConnectionIsLost(t *testing.T) {
	s, c, me := fakeWith(t, lpwindowtest.Options{}, func(cfg *lpwindow.Config) { cfg.MaxReconnects = -1 })
	ctx := tctx(t)
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	a := s.NewAgent("A")
	require.NoError(t, a.Join(cv.ID()))
	_, err = a.SendText(cv.ID(), "before the drop")
	require.NoError(t, err)
	require.Equal(t, "before the drop", nextText(t, cv, "").Event.Text)
	_, err = a.SendText(cv.ID(), "queued")
	require.NoError(t, err)
	_, err = s.WaitFrame(ctx, func(f lpwindowtest.Frame) bool {
		return f.Direction == lpwindowtest.Out && strings.Contains(string(f.Data), `"queued"`)
	})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // sent; let it pass the client's subscription into the conversation's queue
	s.CloseConnections(me, 1011, "restart")
	require.Eventually(t, func() bool { return c.State() == lpwindow.StateFailed }, 5*time.Second, 5*time.Millisecond)
	// What was queued is still delivered, then the loss is reported.
	assert.Equal(t, "queued", nextText(t, cv, "").Event.Text)
	_, err = cv.WaitFor(ctx, lpwindow.IsAgentText)
	assert.ErrorIs(t, err, lpwindow.ErrConnectionLost)
	c.Close()
	_, err = cv.Next(ctx)
	assert.ErrorIs(t, err, lpwindow.ErrClosed)
}

func TestConversationDropsStaleMetadata(t *testing.T) {
	s, c, me := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	cv, err := c.OpenConversation(ctx, lpwindow.ConversationOptions{})
	require.NoError(t, err)
	nextChange(t, cv, lpwindow.ChangeState)
	// An UPSERT claiming the conversation closed, but older than what the
	// conversation has seen (notification order is not guaranteed, §9.2).
	stale := `{"kind":"notification","type":"cqm.ExConversationChangeNotification","body":{"subscriptionId":"x","changes":[{"type":"UPSERT","result":{"convId":"` +
		cv.ID() + `","lastUpdateTime":1,"conversationDetails":{"state":"CLOSE","stage":"CLOSE","metaDataLastUpdateTs":1}}}]}}`
	s.SendRaw(me, []byte(stale))
	a := s.NewAgent("A")
	require.NoError(t, a.Join(cv.ID())) // a real, newer change after the stale one
	_, err = cv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool {
		require.False(t, ev.Kind == lpwindow.KindMetadata && ev.Info.State == lpwindow.ConversationClose, "a stale UPSERT reached the app")
		return ev.Kind == lpwindow.KindMetadata && len(ev.Changes) > 0 && ev.Changes[0].Kind == lpwindow.ChangeAgentJoined
	})
	require.NoError(t, err)
	info, _ := cv.Info()
	assert.Equal(t, lpwindow.ConversationOpen, info.State)
}
