package lpwindowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Agent plays a LivePerson agent (or bot) in the server's conversations.
// Its methods act at once, as the agent's own client would, and notify
// the consumer's sockets.
type Agent struct {
	s    *Server
	id   string
	name string
}

// NewAgent registers an agent with a display name. Its public profile is
// served on the agent-profile endpoint.
func (s *Server) NewAgent(name string) *Agent {
	a := &Agent{s: s, id: newID(), name: name}
	s.state.mu.Lock()
	s.state.agents[a.id] = a
	s.state.mu.Unlock()
	return a
}

// ID returns the agent's participant id (originatorId of its events).
func (a *Agent) ID() string { return a.id }

// Name returns the agent's display name.
func (a *Agent) Name() string { return a.name }

// do runs f on conversation convID under the state lock and sends what it
// changed.
func (a *Agent) do(convID string, f func(t *tx, c *conversation) error) error {
	return a.s.withConversation(convID, f)
}

// withConversation runs f on conversation convID under the state lock and
// sends what it changed.
func (s *Server) withConversation(convID string, f func(t *tx, c *conversation) error) error {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.convs[convID]
	if c == nil {
		return fmt.Errorf("lpwindowtest: no conversation %q", convID)
	}
	t := st.begin()
	err := f(t, c)
	t.flush()
	return err
}

// Join makes the agent the conversation's ASSIGNED_AGENT.
func (a *Agent) Join(convID string) error {
	return a.do(convID, func(t *tx, c *conversation) error { return a.joinLocked(t, c) })
}

func (a *Agent) joinLocked(t *tx, c *conversation) error {
	if c.state != "OPEN" {
		return fmt.Errorf("lpwindowtest: conversation %s is closed", c.id)
	}
	if cur := c.assignedAgent(); cur != "" && cur != a.id {
		return fmt.Errorf("lpwindowtest: conversation %s is assigned to %s", c.id, cur)
	}
	p := Participant{a.id, "ASSIGNED_AGENT"}
	c.participants = addParticipant(c.participants, p)
	c.main().participants = addParticipant(c.main().participants, p)
	c.everAssigned = true
	touch(c, c.main())
	t.meta(c)
	return nil
}

// Leave removes the agent from the conversation (it stays open, unassigned).
func (a *Agent) Leave(convID string) error {
	return a.do(convID, func(t *tx, c *conversation) error { a.unassign(t, c); return nil })
}

// Transfer moves the conversation to skillID: the agent leaves and the
// conversation waits, unassigned, for an agent of that skill.
func (a *Agent) Transfer(convID, skillID string) error {
	return a.do(convID, func(t *tx, c *conversation) error {
		c.skillID = skillID
		a.unassign(t, c)
		return nil
	})
}

func (a *Agent) unassign(t *tx, c *conversation) {
	p := Participant{a.id, "ASSIGNED_AGENT"}
	c.participants = removeParticipant(c.participants, p)
	c.main().participants = removeParticipant(c.main().participants, p)
	touch(c, c.main())
	t.meta(c)
}

// Close closes the conversation's MAIN dialog as the agent. When a survey
// is enabled (EnableSurvey) and the conversation was assigned, a
// POST_SURVEY dialog opens and the stage stays OPEN until it completes.
func (a *Agent) Close(convID string) error {
	return a.do(convID, func(t *tx, c *conversation) error {
		a.s.state.closeDialog(t, c, c.main(), "AGENT", "Closed by agent")
		return nil
	})
}

// SetTTR, SetDelay and SetManualETTR change the conversation's response-
// time fields, as routing or the agent would.
func (a *Agent) SetTTR(convID string, ttr TTR) error {
	return a.do(convID, func(t *tx, c *conversation) error { c.ttr = ttr; touch(c, nil); t.meta(c); return nil })
}

// SetDelay sets (or, with nil, clears) the contact-center closed delay.
func (a *Agent) SetDelay(convID string, d *Delay) error {
	return a.do(convID, func(t *tx, c *conversation) error { c.delay = d; touch(c, nil); t.meta(c); return nil })
}

// SetManualETTR sets the expected response time the agent promised.
func (a *Agent) SetManualETTR(convID string, at time.Time) error {
	return a.do(convID, func(t *tx, c *conversation) error {
		c.manualETTR = at.UnixMilli()
		touch(c, nil)
		t.meta(c)
		return nil
	})
}

// publish adds an event from the agent to the dialog (MAIN when dialogID
// is "") and returns its sequence (-1 for chat states).
func (a *Agent) publish(convID, dialogID string, event any, metadata json.RawMessage) (int, error) {
	raw, err := json.Marshal(event)
	if err != nil {
		return 0, err
	}
	seq := -1
	err = a.do(convID, func(t *tx, c *conversation) error {
		d := c.main()
		if dialogID != "" {
			if d = c.dialog(dialogID); d == nil {
				return fmt.Errorf("lpwindowtest: no dialog %q", dialogID)
			}
		}
		if d.state != "OPEN" {
			return fmt.Errorf("lpwindowtest: dialog %s is closed", d.id)
		}
		role := "ASSIGNED_AGENT"
		if c.assignedAgent() != a.id {
			role = "AGENT"
		}
		e := &Event{OriginatorID: a.id, Role: role, ConversationID: c.id, DialogID: d.id, Event: raw, Metadata: metadata}
		if strings.Contains(string(raw), `"type":"ChatStateEvent"`) {
			e.Sequence = -1
		}
		a.s.state.addEvent(t, d, e)
		seq = e.Sequence
		return nil
	})
	return seq, err
}

// SendText sends a text/plain message.
func (a *Agent) SendText(convID, text string) (int, error) {
	return a.publish(convID, "", map[string]any{"type": "ContentEvent", "contentType": "text/plain", "message": text}, nil)
}

// QuickReply is one quick-reply button.
type QuickReply struct {
	Title    string          // the button's text
	Metadata json.RawMessage // its click metadata (an array), or nil
}

// SendQuickReplies sends text with quick-reply buttons (reference §14).
func (a *Agent) SendQuickReplies(convID, text string, replies []QuickReply) (int, error) {
	return a.publish(convID, "", quickReplyEvent(text, replies), nil)
}

func quickReplyEvent(text string, replies []QuickReply) map[string]any {
	buttons := make([]any, 0, len(replies))
	for _, r := range replies {
		click := map[string]any{"actions": []any{map[string]any{"type": "publishText", "text": r.Title}}}
		if r.Metadata != nil {
			click["metadata"] = r.Metadata
		}
		buttons = append(buttons, map[string]any{"type": "button", "tooltip": r.Title, "title": r.Title, "click": click})
	}
	return map[string]any{"type": "ContentEvent", "contentType": "text/plain", "message": text,
		"quickReplies": map[string]any{"type": "quickReplies", "itemsPerRow": 8, "replies": buttons}}
}

// SendRichContent sends structured content (a RichContentEvent).
func (a *Agent) SendRichContent(convID string, content json.RawMessage) (int, error) {
	if !json.Valid(content) {
		return 0, fmt.Errorf("lpwindowtest: content is not JSON")
	}
	return a.publish(convID, "", map[string]any{"type": "RichContentEvent", "content": content}, nil)
}

// SendFile shares a file as a hosted/file ContentEvent; content is stored
// so the consumer can download it.
func (a *Agent) SendFile(convID, fileType string, content []byte, caption string) (seq int, relativePath string, err error) {
	relativePath = a.s.PutFile(fileType, content)
	seq, err = a.publish(convID, "", map[string]any{"type": "ContentEvent", "contentType": "hosted/file",
		"message": map[string]string{"caption": caption, "relativePath": relativePath, "fileType": strings.ToUpper(fileType)}}, nil)
	return seq, relativePath, err
}

// Accept and Read send receipts for the consumer's sequences.
func (a *Agent) Accept(convID string, seqs ...int) (int, error) {
	return a.publish(convID, "", map[string]any{"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": seqs}, nil)
}

// Read sends a READ receipt.
func (a *Agent) Read(convID string, seqs ...int) (int, error) {
	return a.publish(convID, "", map[string]any{"type": "AcceptStatusEvent", "status": "READ", "sequenceList": seqs}, nil)
}

// SetChatState sends a chat state (COMPOSING, ACTIVE, PAUSE…).
func (a *Agent) SetChatState(convID, chatState string) error {
	_, err := a.publish(convID, "", map[string]any{"type": "ChatStateEvent", "chatState": chatState}, nil)
	return err
}

// Events returns the events of a dialog (MAIN when dialogID is "").
func (s *Server) Events(convID, dialogID string) []*Event {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	c := s.state.convs[convID]
	if c == nil {
		return nil
	}
	d := c.main()
	if dialogID != "" {
		if d = c.dialog(dialogID); d == nil {
			return nil
		}
	}
	return slices.Clone(d.events)
}

// WaitEvent waits until the dialog (MAIN when dialogID is "") holds an
// event matching match, and returns the first one.
func (s *Server) WaitEvent(ctx context.Context, convID, dialogID string, match func(*Event) bool) (*Event, error) {
	var found *Event
	err := s.waitFor(ctx, func() bool {
		for _, e := range s.Events(convID, dialogID) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found, err
}

// Text returns the event's text for a text/plain ContentEvent, else "".
func (e *Event) Text() string {
	var ev struct {
		Type, ContentType string
		Message           json.RawMessage
	}
	if json.Unmarshal(e.Event, &ev) != nil || ev.Type != "ContentEvent" || ev.ContentType != "text/plain" {
		return ""
	}
	var s string
	_ = json.Unmarshal(ev.Message, &s)
	return s
}

// Type returns the event's type (ContentEvent, AcceptStatusEvent…).
func (e *Event) Type() string {
	var ev struct{ Type string }
	_ = json.Unmarshal(e.Event, &ev)
	return ev.Type
}

// Conversation is a snapshot of a conversation, for tests.
type Conversation struct {
	ID, ConsumerID, SkillID, State, Stage, CloseReason string
	TTR                                                TTR
	CSAT                                               *CSAT
	Participants                                       []Participant
	Dialogs                                            []Dialog
}

// Dialog is a snapshot of a dialog.
type Dialog struct {
	ID, Type, ChannelType, State, ClosedBy, ClosedCause string
	MetaData                                            map[string]any
}

// Conversation returns a snapshot of a conversation.
func (s *Server) Conversation(convID string) (Conversation, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	c := s.state.convs[convID]
	if c == nil {
		return Conversation{}, false
	}
	out := Conversation{ID: c.id, ConsumerID: c.consumerID, SkillID: c.skillID, State: c.state, Stage: c.stage,
		CloseReason: c.closeReason, TTR: c.ttr, CSAT: c.csat, Participants: slices.Clone(c.participants)}
	for _, d := range c.dialogs {
		out.Dialogs = append(out.Dialogs, Dialog{ID: d.id, Type: d.typ, ChannelType: d.channel, State: d.state,
			ClosedBy: d.closedBy, ClosedCause: d.closedCause, MetaData: d.metaData})
	}
	return out, true
}

// Conversations returns the ids of the consumer's conversations ("" for
// all), oldest first.
func (s *Server) Conversations(consumerID string) []string {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var all []*conversation
	for _, c := range s.state.convs {
		if consumerID == "" || c.consumerID == consumerID {
			all = append(all, c)
		}
	}
	slices.SortFunc(all, func(a, b *conversation) int { return int(a.startTs - b.startTs) })
	ids := make([]string, len(all))
	for i, c := range all {
		ids[i] = c.id
	}
	return ids
}

// WaitConversation waits for a conversation of the consumer ("" for any)
// that satisfies match (nil: any) and returns its id.
func (s *Server) WaitConversation(ctx context.Context, consumerID string, match func(Conversation) bool) (string, error) {
	var id string
	err := s.waitFor(ctx, func() bool {
		for _, cid := range s.Conversations(consumerID) {
			if c, ok := s.Conversation(cid); ok && (match == nil || match(c)) {
				id = cid
				return true
			}
		}
		return false
	})
	return id, err
}

// invitationLifetime is how long a CoBrowse or call invitation waits for
// an answer (reference §17).
const invitationLifetime = 2 * time.Minute

// InviteCoBrowse opens a CoBrowse invitation dialog (mode "shared", "view"
// or "follow") and returns its id. It closes itself after 2 minutes
// unless SetInvitationState changes it.
func (a *Agent) InviteCoBrowse(convID, mode string) (string, error) {
	return a.invite(convID, mode)
}

// InviteCall opens a voice or video call invitation (mode "VOICE_CALL" or
// "VIDEO_CALL"; the channel is COBROWSE, as documented).
func (a *Agent) InviteCall(convID, mode string) (string, error) {
	return a.invite(convID, mode)
}

func (a *Agent) invite(convID, mode string) (string, error) {
	if !slices.Contains([]string{"shared", "view", "follow", "VOICE_CALL", "VIDEO_CALL"}, mode) {
		return "", fmt.Errorf("lpwindowtest: unknown invitation mode %q", mode)
	}
	id := newID()
	err := a.do(convID, func(t *tx, c *conversation) error {
		if c.state != "OPEN" {
			return fmt.Errorf("lpwindowtest: conversation %s is closed", c.id)
		}
		now := nowMs()
		d := &dialog{id: id, typ: "OTHER", channel: "COBROWSE", state: "OPEN", created: now, updated: now,
			participants: []Participant{{c.consumerID, "CONSUMER"}, {a.id, "ASSIGNED_AGENT"}},
			metaData: map[string]any{"serviceId": c.consumerID + "#" + newID(), "mode": mode,
				"expires": float64(time.Now().Add(invitationLifetime).UnixMilli()) / 1000, "sessionState": "INVITED", "dialogId": id}}
		c.dialogs = append(c.dialogs, d)
		a.s.state.byDlg[id] = c
		touch(c, d)
		t.meta(c)
		d.expire = time.AfterFunc(invitationLifetime, func() { _ = a.s.SetInvitationState(convID, id, "CLOSED") })
		return nil
	})
	return id, err
}

// SetInvitationState sets a CoBrowse or call invitation's sessionState
// ("ACCEPTED" or "CLOSED"), as the web page's answer or the agent would.
func (s *Server) SetInvitationState(convID, dialogID, sessionState string) error {
	return s.withConversation(convID, func(t *tx, c *conversation) error {
		d := c.dialog(dialogID)
		if d == nil {
			return fmt.Errorf("lpwindowtest: no invitation %q in %q", dialogID, convID)
		}
		setInvitationState(t, c, d, sessionState)
		return nil
	})
}

func setInvitationState(t *tx, c *conversation, d *dialog, sessionState string) {
	meta := map[string]any{}
	for k, v := range d.metaData {
		meta[k] = v
	}
	meta["sessionState"] = sessionState
	d.metaData = meta
	if sessionState == "CLOSED" {
		now := touch(c, d)
		d.state, d.ended = "CLOSE", now
		if d.expire != nil {
			d.expire.Stop()
		}
	} else {
		touch(c, d)
	}
	t.meta(c)
}

// DeleteConversation removes a conversation, as LivePerson does when a
// closed conversation ages out of the metadata stream (reference §9.2):
// every subscription that reported it gets a DELETE change carrying its
// last state. An open conversation is closed first.
func (s *Server) DeleteConversation(convID string) error {
	return s.withConversation(convID, func(t *tx, c *conversation) error {
		st := s.state
		if c.stage != "CLOSE" {
			st.closeStage(c, "SYSTEM")
			t.meta(c)
		}
		delete(st.convs, convID)
		for _, d := range c.dialogs {
			delete(st.byDlg, d.id)
		}
		t.deleted = append(t.deleted, c)
		return nil
	})
}
