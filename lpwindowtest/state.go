package lpwindowtest

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/lpwindow/lpwindow/internal/wire"
)

// Participant is a conversation or dialog participant.
type Participant struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// TTR is a conversation's urgency (reference §7.2).
type TTR struct {
	Type  string `json:"ttrType"`
	Value int64  `json:"value"`
}

// CSAT is a legacy satisfaction rating.
type CSAT struct {
	Field                  string `json:"field"`
	Rate                   int    `json:"csatRate"`
	ResolutionConfirmation bool   `json:"csatResolutionConfirmation"`
	Status                 string `json:"status"`
}

// Delay says the contact center is closed until TillWhen (epoch ms).
type Delay struct {
	Type     string `json:"type"`
	TillWhen int64  `json:"tillWhen"`
}

type conversation struct {
	id, consumerID, skillID   string
	state, stage, closeReason string
	startTs, endTs, updated   int64
	ttr                       TTR
	delay                     *Delay
	manualETTR                int64
	csat                      *CSAT
	participants              []Participant
	dialogs                   []*dialog
	everAssigned              bool
	survey                    *surveyRun
}

type dialog struct {
	id, typ, channel, state string
	metaData                map[string]any
	participants            []Participant
	created, ended, updated int64
	closedBy, closedCause   string
	events                  []*Event
	expire                  *time.Timer // CoBrowse/call invitations
}

// Event is a messaging event the server stored and sent.
type Event struct {
	Sequence        int             // -1 for chat states, which have none
	OriginatorID    string          // the publisher's participant id
	Role            string          // the publisher's role: CONSUMER, ASSIGNED_AGENT, AGENT…
	ServerTimestamp int64           // epoch ms; 0 for chat states
	ConversationID  string          //
	DialogID        string          //
	Event           json.RawMessage // the event object as published
	Metadata        json.RawMessage // envelope metadata, or nil
}

// change is the wire form of an Event in ms.MessagingEventNotification.
func (e *Event) change() any {
	type change struct {
		Sequence           *int            `json:"sequence,omitempty"`
		OriginatorID       string          `json:"originatorId"`
		OriginatorMetadata Participant     `json:"originatorMetadata"`
		ServerTimestamp    int64           `json:"serverTimestamp,omitempty"`
		Event              json.RawMessage `json:"event"`
		ConversationID     string          `json:"conversationId"`
		DialogID           string          `json:"dialogId"`
		Metadata           json.RawMessage `json:"metadata,omitempty"`
	}
	c := change{OriginatorID: e.OriginatorID, OriginatorMetadata: Participant{e.OriginatorID, e.Role},
		ServerTimestamp: e.ServerTimestamp, Event: e.Event, ConversationID: e.ConversationID, DialogID: e.DialogID, Metadata: e.Metadata}
	if e.Sequence >= 0 {
		seq := e.Sequence
		c.Sequence = &seq
	}
	return c
}

// state is everything the server knows, under one lock.
type state struct {
	s       *Server
	mu      sync.Mutex
	convs   map[string]*conversation
	byDlg   map[string]*conversation
	sockets map[*socket]struct{}
	agents  map[string]*Agent
	ch      chan struct{} // closed and replaced on every change
	wg      sync.WaitGroup
}

func newState(s *Server) *state {
	return &state{s: s, convs: map[string]*conversation{}, byDlg: map[string]*conversation{},
		sockets: map[*socket]struct{}{}, agents: map[string]*Agent{}, ch: make(chan struct{})}
}

func (st *state) changed() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ch
}

func (st *state) notifyChanged() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.bump()
}

func (st *state) bump() {
	close(st.ch)
	st.ch = make(chan struct{})
}

// tx collects what a change must send, so it goes out after the response
// that caused it. Use it with st.mu held; flush before unlocking.
type tx struct {
	st      *state
	events  []*Event
	convs   []*conversation
	deleted []*conversation
}

func (st *state) begin() *tx { return &tx{st: st} }

func (t *tx) event(e *Event) { t.events = append(t.events, e) }
func (t *tx) meta(c *conversation) {
	if !slices.Contains(t.convs, c) {
		t.convs = append(t.convs, c)
	}
}

// touch marks c updated now (strictly later than before).
func touch(c *conversation, d *dialog) int64 {
	now := nowMs()
	if now <= c.updated {
		now = c.updated + 1
	}
	c.updated = now
	if d != nil {
		d.updated = now
	}
	return now
}

func (t *tx) flush() {
	st := t.st
	for _, e := range t.events {
		c := st.byDlg[e.DialogID]
		if c == nil {
			continue
		}
		body := notificationBody(nil, []any{e.change()})
		for sk := range st.sockets {
			if sk.consumerID == c.consumerID && sk.dialogSubs[e.DialogID] {
				sk.sendNotification("ms.MessagingEventNotification", body)
			}
		}
		if st.s.bot != nil {
			st.s.bot.observe(e)
		}
	}
	for _, c := range t.convs {
		for sk := range st.sockets {
			if sk.consumerID != c.consumerID {
				continue
			}
			for id, f := range sk.metaSubs {
				if f.tracked[c.id] || f.matches(c) {
					// A conversation that leaves the filter gets one last
					// UPSERT showing why, then no more. UNCONFIRMED: the
					// docs do not say; this never hides a close.
					f.tracked[c.id] = f.matches(c)
					sk.sendNotification("cqm.ExConversationChangeNotification",
						notificationBody(&id, []any{map[string]any{"type": "UPSERT", "result": c.result(st.s.opts.Account)}}))
				}
			}
		}
	}
	for _, c := range t.deleted {
		for sk := range st.sockets {
			if sk.consumerID != c.consumerID {
				continue
			}
			for id, f := range sk.metaSubs {
				if f.tracked[c.id] {
					delete(f.tracked, c.id)
					sk.sendNotification("cqm.ExConversationChangeNotification",
						notificationBody(&id, []any{map[string]any{"type": "DELETE", "result": c.result(st.s.opts.Account)}}))
				}
			}
		}
	}
	if len(t.events)+len(t.convs)+len(t.deleted) > 0 {
		st.bump()
	}
	t.events, t.convs, t.deleted = nil, nil, nil
}

func notificationBody(subscriptionID *string, changes []any) json.RawMessage {
	m := map[string]any{"changes": changes}
	if subscriptionID != nil {
		m["subscriptionId"] = *subscriptionID
	}
	b, _ := json.Marshal(m)
	return b
}

// metaFilter is one cqm.SubscribeExConversations subscription.
type metaFilter struct {
	convState, stage []string
	minUpdated       int64
	tracked          map[string]bool // conversations it has reported
}

func (f *metaFilter) matches(c *conversation) bool {
	return (len(f.convState) == 0 || slices.Contains(f.convState, c.state)) &&
		(len(f.stage) == 0 || slices.Contains(f.stage, c.stage)) &&
		c.updated >= f.minUpdated
}

// result is the conversation as cqm.ExConversationChangeNotification
// shows it (reference §9.2, PCS tutorial sample).
func (c *conversation) result(brandID string) map[string]any {
	dialogs := make([]any, 0, len(c.dialogs))
	for _, d := range c.dialogs {
		dm := map[string]any{
			"dialogId": d.id, "dialogType": d.typ, "channelType": d.channel, "state": d.state,
			"creationTs": d.created, "metaDataLastUpdateTs": d.updated,
		}
		if d.channel == "COBROWSE" {
			ids := make([]string, len(d.participants)) // plain ids, as in the CoBrowse sample
			for i, p := range d.participants {
				ids[i] = p.ID
			}
			dm["participants"] = ids
		} else {
			dm["participantsDetails"] = d.participants
		}
		if d.metaData != nil {
			dm["metaData"] = d.metaData
		}
		if d.ended != 0 {
			dm["endTs"] = d.ended
		}
		if d.closedBy != "" {
			dm["closedBy"] = d.closedBy
		}
		if d.closedCause != "" {
			dm["closedCause"] = d.closedCause
		}
		dialogs = append(dialogs, dm)
	}
	details := map[string]any{
		"participants": c.participants, "dialogs": dialogs, "brandId": brandID, "state": c.state, "stage": c.stage,
		"startTs": c.startTs, "endTs": c.endTs, "metaDataLastUpdateTs": c.updated, "ttr": c.ttr,
	}
	if c.skillID != "" {
		details["skillId"] = c.skillID
	}
	if c.closeReason != "" {
		details["closeReason"] = c.closeReason
	}
	if c.delay != nil {
		details["delay"] = c.delay
	}
	if c.manualETTR != 0 {
		details["manualETTR"] = c.manualETTR
	}
	if c.csat != nil {
		details["csat"] = c.csat
	}
	return map[string]any{"convId": c.id, "effectiveTTR": -1, "lastUpdateTime": c.updated, "conversationDetails": details}
}

func (c *conversation) main() *dialog { return c.dialogs[0] }

func (c *conversation) dialog(id string) *dialog {
	for _, d := range c.dialogs {
		if d.id == id {
			return d
		}
	}
	return nil
}

// assignedAgent returns the ASSIGNED_AGENT participant id, or "".
func (c *conversation) assignedAgent() string {
	for _, p := range c.participants {
		if p.Role == "ASSIGNED_AGENT" {
			return p.ID
		}
	}
	return ""
}

func addParticipant(list []Participant, p Participant) []Participant {
	if slices.Contains(list, p) {
		return list
	}
	return append(list, p)
}

func removeParticipant(list []Participant, p Participant) []Participant {
	return slices.DeleteFunc(list, func(x Participant) bool { return x == p })
}

// newConversation creates an open conversation with its MAIN dialog,
// whose id is the conversation id (reference §7.1).
func (st *state) newConversation(consumerID, skillID, ttrType string) *conversation {
	now := nowMs()
	id := newID()
	consumer := Participant{consumerID, "CONSUMER"}
	if ttrType == "" {
		ttrType = "NORMAL"
	}
	c := &conversation{id: id, consumerID: consumerID, skillID: skillID, state: "OPEN", stage: "OPEN",
		startTs: now, updated: now, ttr: TTR{Type: ttrType, Value: 3600}, participants: []Participant{consumer}}
	c.dialogs = []*dialog{{id: id, typ: "MAIN", channel: "MESSAGING", state: "OPEN", created: now, updated: now,
		participants: []Participant{consumer}}}
	st.convs[id] = c
	st.byDlg[id] = c
	return c
}

// addEvent stores e in its dialog, assigning the next sequence unless it
// is a chat state.
func (st *state) addEvent(t *tx, d *dialog, e *Event) {
	if e.Sequence != -1 {
		e.Sequence = len(d.events)
		e.ServerTimestamp = nowMs()
		d.events = append(d.events, e)
	}
	t.event(e)
}

// closeDialog closes d; closing the MAIN dialog closes the conversation's
// state, and the stage too unless a post-conversation survey opens.
func (st *state) closeDialog(t *tx, c *conversation, d *dialog, by, cause string) {
	if d.state == "CLOSE" {
		return
	}
	now := touch(c, d)
	d.state, d.ended, d.closedBy, d.closedCause = "CLOSE", now, by, cause
	if d.expire != nil {
		d.expire.Stop()
	}
	if d == c.main() {
		c.state, c.closeReason, c.endTs = "CLOSE", by, now
		if c.everAssigned && st.s.survey != nil && c.survey == nil {
			st.openSurvey(t, c)
		}
	}
	if !slices.ContainsFunc(c.dialogs, func(x *dialog) bool { return x.state == "OPEN" && x.channel == "MESSAGING" }) {
		st.closeStage(c, by)
	}
	t.meta(c)
}

func (st *state) closeStage(c *conversation, by string) {
	now := touch(c, nil)
	c.stage = "CLOSE"
	if c.state != "CLOSE" {
		c.state, c.endTs = "CLOSE", now
	}
	if c.closeReason == "" {
		c.closeReason = by
	}
	for _, d := range c.dialogs {
		if d.state == "OPEN" {
			d.state, d.ended, d.updated = "CLOSE", now, now
			if d.closedBy == "" {
				d.closedBy = by
			}
			if d.expire != nil {
				d.expire.Stop()
			}
		}
	}
}

func (st *state) agentByID(id string) *Agent {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.agents[id]
}

func (st *state) closeAllSockets() {
	st.mu.Lock()
	var all []*socket
	for sk := range st.sockets {
		all = append(all, sk)
	}
	for _, c := range st.convs {
		for _, d := range c.dialogs {
			if d.expire != nil {
				d.expire.Stop()
			}
		}
	}
	st.mu.Unlock()
	for _, sk := range all {
		sk.drop()
	}
}

// frame encodes a notification.
func notificationFrame(typ string, body json.RawMessage) []byte {
	return wire.AppendNotification(nil, typ, body)
}
