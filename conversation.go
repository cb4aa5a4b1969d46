package lpwindow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Conversation is one of the consumer's conversations: an ordered,
// deduplicated stream of its events (Next, WaitFor) and its metadata kept
// current (Info), with the actions a consumer can take. Get one from
// Conn.OpenConversation. It is safe for concurrent use.
type Conversation struct {
	c    *Conn
	id   string
	opts ConversationOptions

	mu      sync.Mutex
	info    ConversationInfo
	known   bool                    // info has been set from metadata
	dialogs map[string]*dialogOrder // by dialog id
	queue   []ConversationEvent
	dropped uint64
	wake    chan struct{}  // closed and replaced when the queue grows
	handed  map[string]int // by dialog: the next sequence Next has not handed to the app
}

// ResumeState is what a new process needs to continue a conversation
// without the app seeing again what it already handled: the conversation
// id and, per dialog, the next sequence to deliver (the last one Next
// returned, plus one). It marshals to JSON; store it where the app keeps
// its own state and pass it as ConversationOptions.Resume.
type ResumeState struct {
	ConversationID string         `json:"conversationId"`
	Dialogs        map[string]int `json:"dialogs"`
}

// ConversationOptions configure OpenConversation. The zero value works.
type ConversationOptions struct {
	// Request routes a new conversation (skill, campaign, context, TTR).
	Request ConversationRequest
	// New always requests a new conversation instead of resuming the
	// consumer's open one. Default false.
	New bool
	// AutoAccept sends an ACCEPT receipt for each agent message as Next or
	// WaitFor hands it to the app. Default false.
	AutoAccept bool
	// QueueSize bounds the events waiting for Next. When it is full, new
	// events are dropped, counted (Dropped) and reported to Config.OnError
	// as a *SlowConsumerError. Default 4096.
	QueueSize int
	// GapTimeout is how long an event that arrived ahead of a missing
	// sequence waits for it; then a Gap event reports what was missed and
	// the stream moves on. Default 2s.
	GapTimeout time.Duration
	// Resume continues the conversation a Conversation.ResumeState
	// describes (from an earlier process, for example): each dialog's
	// events are delivered from its recorded sequence on. Default nil.
	Resume *ResumeState
}

// EventKind says what a ConversationEvent carries.
type EventKind int

// The event kinds.
const (
	KindMessage   EventKind = iota // a sequenced messaging event: content, rich content or receipt
	KindChatState                  // a chat state (typing…); not sequenced
	KindMetadata                   // the conversation's metadata changed; see Changes
	KindGap                        // sequences that never arrived (see GapFrom, GapTo)
)

// ConversationEvent is one item of a conversation's stream.
type ConversationEvent struct {
	Kind    EventKind
	Message *MessagingEvent   // KindMessage and KindChatState
	Mine    bool              // the consumer's own event (originator == ConsumerID)
	Info    *ConversationInfo // KindMetadata: the new metadata
	Changes []Change          // KindMetadata: what changed
	Dialog  string            // the dialog of a message or gap
	GapFrom int               // KindGap: the first missing sequence
	GapTo   int               // KindGap: the last missing sequence
}

// ChangeKind names a metadata change.
type ChangeKind string

// The metadata changes a conversation reports.
const (
	ChangeAgentJoined      ChangeKind = "agent-joined"  // Participant
	ChangeAgentLeft        ChangeKind = "agent-left"    // Participant
	ChangeSkill            ChangeKind = "skill"         // the skill changed (a transfer)
	ChangeState            ChangeKind = "state"         // the MAIN dialog's state
	ChangeStage            ChangeKind = "stage"         // the whole conversation's stage
	ChangeDialogOpened     ChangeKind = "dialog-opened" // Dialog (e.g. POST_SURVEY)
	ChangeDialogClosed     ChangeKind = "dialog-closed" // Dialog
	ChangeInvitation       ChangeKind = "invitation"    // Dialog: a CoBrowse/call invitation appeared or changed
	ChangeTTR              ChangeKind = "ttr"           // TTR, delay or manual ETTR
	ChangeCSAT             ChangeKind = "csat"          //
	ChangeConversationGone ChangeKind = "deleted"       // the server dropped the conversation (DELETE)
)

// Change is one metadata change.
type Change struct {
	Kind        ChangeKind
	Participant Participant // agent joined or left
	Dialog      *Dialog     // dialog opened/closed, invitation
}

// dialogOrder puts one dialog's events in sequence order.
type dialogOrder struct {
	next       int                     // the next sequence to deliver
	pending    map[int]*MessagingEvent // arrived early
	timer      *time.Timer             // gap timeout while pending is not empty
	subscribed bool                    // followed: subscribed on every session
	session    *session                // the session its subscription was confirmed on
}

const (
	defaultConversationQueue = 4096
	defaultGapTimeout        = 2 * time.Second
)

// OpenConversation resumes the consumer's open conversation (from the
// metadata snapshot) or, if there is none or opts.New, requests a new one;
// then it subscribes to the MAIN dialog's events from the start.
func (c *Conn) OpenConversation(ctx context.Context, opts ConversationOptions) (*Conversation, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = defaultConversationQueue
	}
	if opts.GapTimeout <= 0 {
		opts.GapTimeout = defaultGapTimeout
	}
	if opts.Resume != nil {
		return c.resumeConversation(ctx, opts)
	}
	r, err := c.conversations(ctx)
	if err != nil {
		return nil, err
	}
	id := ""
	if !opts.New {
		id = r.openConversation()
	}
	if id == "" {
		if id, err = c.RequestConversation(ctx, opts.Request); err != nil {
			return nil, err
		}
	}
	conv := r.track(id, opts)
	if err := conv.subscribeDialog(ctx, id); err != nil {
		r.untrack(id)
		return nil, err
	}
	return conv, nil
}

// resumeConversation continues opts.Resume's conversation.
func (c *Conn) resumeConversation(ctx context.Context, opts ConversationOptions) (*Conversation, error) {
	st := opts.Resume
	if err := checkID("conversationId", st.ConversationID, true); err != nil {
		return nil, err
	}
	for d, seq := range st.Dialogs {
		if err := checkID("dialogId", d, true); err != nil {
			return nil, err
		}
		if seq < 0 {
			return nil, invalidf(ErrInvalidRequest, "ResumeState sequence %d of dialog %s is negative", seq, d)
		}
	}
	r, err := c.conversations(ctx)
	if err != nil {
		return nil, err
	}
	cv := r.track(st.ConversationID, opts)
	dialogs := []string{st.ConversationID}
	cv.mu.Lock()
	for d, seq := range st.Dialogs {
		o := cv.order(d)
		if !o.subscribed && seq > o.next {
			o.next = seq
			cv.handed[d] = seq
		}
		if d != st.ConversationID {
			dialogs = append(dialogs, d)
		}
	}
	cv.mu.Unlock()
	for _, d := range dialogs {
		if err := cv.subscribeDialog(ctx, d); err != nil {
			r.untrack(st.ConversationID)
			return nil, err
		}
	}
	return cv, nil
}

// ResumeState returns what ConversationOptions.Resume needs to continue
// this conversation after the last event Next returned.
func (cv *Conversation) ResumeState() ResumeState {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	st := ResumeState{ConversationID: cv.id, Dialogs: make(map[string]int, len(cv.handed))}
	for d, seq := range cv.handed {
		st.Dialogs[d] = seq
	}
	return st
}

// ID returns the conversation id (also its MAIN dialog's id).
func (cv *Conversation) ID() string { return cv.id }

// Info returns the latest metadata, and false before any arrived.
func (cv *Conversation) Info() (ConversationInfo, bool) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.info, cv.known
}

// Dropped returns how many events the queue dropped because the app did
// not keep up.
func (cv *Conversation) Dropped() uint64 {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.dropped
}

// Next returns the next event, waiting for one until ctx ends. Events of a
// dialog come in sequence order, each once. Once the connection is lost or
// closed and the queued events are consumed, it returns an error matching
// ErrConnectionLost or ErrClosed.
func (cv *Conversation) Next(ctx context.Context) (ConversationEvent, error) {
	lost := cv.c.lost
	for {
		cv.mu.Lock()
		if len(cv.queue) > 0 {
			ev := cv.queue[0]
			cv.queue[0] = ConversationEvent{}
			cv.queue = cv.queue[1:]
			switch {
			case ev.Kind == KindMessage && ev.Message != nil:
				cv.handed[ev.Dialog] = max(cv.handed[ev.Dialog], ev.Message.Sequence+1)
			case ev.Kind == KindGap:
				cv.handed[ev.Dialog] = max(cv.handed[ev.Dialog], ev.GapTo+1)
			}
			cv.mu.Unlock()
			cv.autoAccept(ctx, ev)
			return ev, nil
		}
		wake := cv.wake
		cv.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ConversationEvent{}, ctx.Err()
		case <-cv.c.closing:
			return ConversationEvent{}, ErrClosed
		case <-lost:
			if _, err := cv.c.current(); err != nil {
				return ConversationEvent{}, err
			}
			lost = nil // connected again: wait for events
		}
	}
}

// WaitFor returns the next event for which match is true, discarding the
// ones before it; for tests and scripted consumers ("the next agent text
// containing …").
func (cv *Conversation) WaitFor(ctx context.Context, match func(ConversationEvent) bool) (ConversationEvent, error) {
	for {
		ev, err := cv.Next(ctx)
		if err != nil || match(ev) {
			return ev, err
		}
	}
}

// IsAgentText reports whether ev is a text from someone other than the
// consumer; a helper for WaitFor.
func IsAgentText(ev ConversationEvent) bool {
	return ev.Kind == KindMessage && !ev.Mine && ev.Message.Event.Type == EventContent && ev.Message.Event.Text != ""
}

func (cv *Conversation) autoAccept(ctx context.Context, ev ConversationEvent) {
	if !cv.opts.AutoAccept || ev.Kind != KindMessage || ev.Mine || ev.Message.Event.Type == EventAcceptStatus {
		return
	}
	_, err := cv.c.Publish(ctx, Publication{DialogID: ev.Dialog, ConversationID: cv.id,
		Event: Receipt{Status: StatusAccept, Sequences: []int{ev.Message.Sequence}}})
	if err != nil {
		cv.c.log.Warn("lpwindow: automatic ACCEPT receipt failed", "err", err)
		cv.c.emit(fmt.Errorf("lpwindow: automatic ACCEPT receipt for sequence %d: %w", ev.Message.Sequence, err))
	}
}

// SendText publishes a text in the MAIN dialog and returns its sequence.
func (cv *Conversation) SendText(ctx context.Context, text string) (int, error) {
	return cv.publish(ctx, cv.id, Text{Message: text}, nil)
}

// MarkRead sends a READ receipt for sequences of a dialog ("" for MAIN).
func (cv *Conversation) MarkRead(ctx context.Context, dialogID string, sequences ...int) error {
	_, err := cv.publish(ctx, cv.dialog(dialogID), Receipt{Status: StatusRead, Sequences: sequences}, nil)
	return err
}

// Accept sends an ACCEPT receipt for sequences of a dialog ("" for MAIN).
func (cv *Conversation) Accept(ctx context.Context, dialogID string, sequences ...int) error {
	_, err := cv.publish(ctx, cv.dialog(dialogID), Receipt{Status: StatusAccept, Sequences: sequences}, nil)
	return err
}

// Typing says the consumer is typing (COMPOSING) or stopped (ACTIVE).
func (cv *Conversation) Typing(ctx context.Context, typing bool) error {
	state := ChatActive
	if typing {
		state = ChatComposing
	}
	_, err := cv.publish(ctx, cv.id, ChatStateChange{State: state}, nil)
	return err
}

// Signal sends a signal message: a SIGNALED chat state carrying payload
// (any JSON value) in Signal metadata (reference §13).
func (cv *Conversation) Signal(ctx context.Context, payload any) error {
	p, err := json.Marshal(payload)
	if err != nil {
		return invalidf(ErrInvalidRequest, "signal payload: %v", err)
	}
	md, _ := json.Marshal(map[string]string{"type": "Signal", "payload": string(p)})
	_, err = cv.publish(ctx, cv.id, ChatStateChange{State: ChatSignaled}, []json.RawMessage{md})
	return err
}

// Answer answers a quick-reply or structured-content question the way
// LivePerson documents (reference §10): an ACTION receipt for the
// question's sequence and then the button's text, both carrying the
// button's click metadata, in the question's dialog.
func (cv *Conversation) Answer(ctx context.Context, question *MessagingEvent, b Button) error {
	if question == nil || question.Sequence < 0 {
		return invalidf(ErrInvalidRequest, "Answer needs the question event")
	}
	reply := b.Title
	for _, a := range b.Actions {
		if a.Type == "publishText" && a.Text != "" {
			reply = a.Text
		}
	}
	dialog := cv.dialog(question.DialogID)
	if _, err := cv.publish(ctx, dialog, Receipt{Status: StatusAction, Sequences: []int{question.Sequence}}, b.Metadata); err != nil {
		return err
	}
	_, err := cv.publish(ctx, dialog, Text{Message: reply}, b.Metadata)
	return err
}

// Close closes the conversation (its MAIN dialog); a post-conversation
// survey may follow in a POST_SURVEY dialog, which the stream includes.
func (cv *Conversation) Close(ctx context.Context) error {
	return cv.c.UpdateConversation(ctx, cv.id, CloseConversation{})
}

// CloseAll closes the whole conversation and every dialog, skipping any
// survey (field Stage).
func (cv *Conversation) CloseAll(ctx context.Context) error {
	return cv.c.UpdateConversation(ctx, cv.id, CloseStage{})
}

// CloseDialog closes one dialog, such as a survey the consumer leaves.
func (cv *Conversation) CloseDialog(ctx context.Context, dialogID string) error {
	return cv.c.UpdateConversation(ctx, cv.id, CloseDialog{DialogID: dialogID})
}

// MarkUrgent asks for an urgent response (TTR URGENT).
func (cv *Conversation) MarkUrgent(ctx context.Context) error {
	return cv.c.UpdateConversation(ctx, cv.id, SetTTR{Type: TTRUrgent})
}

// RateCSAT submits the legacy satisfaction rating after the conversation
// closed.
func (cv *Conversation) RateCSAT(ctx context.Context, rate int, resolved bool) error {
	return cv.c.UpdateConversation(ctx, cv.id, RateCSAT{Rate: rate, ResolutionConfirmation: resolved, Status: CSATFilled})
}

func (cv *Conversation) dialog(id string) string {
	if id == "" {
		return cv.id
	}
	return id
}

func (cv *Conversation) publish(ctx context.Context, dialogID string, ev OutgoingEvent, md []json.RawMessage) (int, error) {
	p := Publication{DialogID: dialogID, Event: ev, Metadata: md}
	if dialogID != cv.id {
		p.ConversationID = cv.id // the docs pass it for non-MAIN dialogs
	}
	return cv.c.Publish(ctx, p)
}

// subscribeDialog follows a dialog: subscribes to its events from the
// next sequence, once. On failure the dialog is not followed.
func (cv *Conversation) subscribeDialog(ctx context.Context, dialogID string) error {
	return cv.follow(ctx, dialogID, false)
}

// followDialog is subscribeDialog for dialogs the metadata announced: on
// failure the dialog stays followed, so the next reconnection subscribes.
func (cv *Conversation) followDialog(ctx context.Context, dialogID string) error {
	return cv.follow(ctx, dialogID, true)
}

func (cv *Conversation) follow(ctx context.Context, dialogID string, keep bool) error {
	cv.mu.Lock()
	d := cv.order(dialogID)
	if d.subscribed {
		cv.mu.Unlock()
		return nil
	}
	d.subscribed = true
	cv.mu.Unlock()
	err := cv.subscribeOn(ctx, dialogID, cv.c.live.Load())
	if err != nil && !keep {
		cv.mu.Lock()
		d.subscribed = false
		cv.mu.Unlock()
	}
	return err
}

// subscribeOn subscribes to a dialog from its next sequence; s is the
// session the request goes to (nil: unknown). Once confirmed, a pending
// hole gets a full GapTimeout from now: the replay is on its way.
func (cv *Conversation) subscribeOn(ctx context.Context, dialogID string, s *session) error {
	cv.mu.Lock()
	from := cv.order(dialogID).next
	cv.mu.Unlock()
	convID := ""
	if dialogID != cv.id {
		convID = cv.id
	}
	if err := cv.c.SubscribeMessagingEvents(ctx, dialogID, convID, from); err != nil {
		return err
	}
	cv.mu.Lock()
	defer cv.mu.Unlock()
	d := cv.order(dialogID)
	if s == nil || s != cv.c.live.Load() {
		return nil // it went to a later session, whose resume confirms it
	}
	d.session = s
	if d.timer != nil {
		d.timer.Reset(cv.opts.GapTimeout)
	}
	return nil
}

// order returns the dialog's ordering state (cv.mu held).
func (cv *Conversation) order(dialogID string) *dialogOrder {
	d := cv.dialogs[dialogID]
	if d == nil {
		d = &dialogOrder{pending: map[int]*MessagingEvent{}}
		cv.dialogs[dialogID] = d
	}
	return d
}

// push queues an event (cv.mu held).
func (cv *Conversation) push(ev ConversationEvent) {
	if len(cv.queue) >= cv.opts.QueueSize {
		cv.dropped++
		if cv.dropped == 1 || cv.dropped%1000 == 0 {
			cv.c.emit(&SlowConsumerError{Type: "conversation " + cv.id, Dropped: cv.dropped})
		}
		return
	}
	cv.queue = append(cv.queue, ev)
	close(cv.wake)
	cv.wake = make(chan struct{})
}

// addEvent orders and deduplicates one messaging event.
func (cv *Conversation) addEvent(e *MessagingEvent, consumerID string) {
	mine := e.OriginatorID != "" && e.OriginatorID == consumerID
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if e.Sequence < 0 { // chat states ride alongside, unordered
		cv.push(ConversationEvent{Kind: KindChatState, Message: e, Mine: mine, Dialog: e.DialogID})
		return
	}
	d := cv.order(e.DialogID)
	if e.Sequence < d.next || d.pending[e.Sequence] != nil {
		return // a replay or a duplicate
	}
	if e.Sequence > d.next {
		d.pending[e.Sequence] = e
		if d.timer == nil {
			dialogID := e.DialogID
			d.timer = time.AfterFunc(cv.opts.GapTimeout, func() { cv.gapTimeout(dialogID, consumerID) })
		}
		return
	}
	cv.deliver(d, e, consumerID)
}

// deliver queues e (the next in order) and whatever it unblocks.
func (cv *Conversation) deliver(d *dialogOrder, e *MessagingEvent, consumerID string) {
	for e != nil {
		cv.push(ConversationEvent{Kind: KindMessage, Message: e, Mine: e.OriginatorID == consumerID, Dialog: e.DialogID})
		d.next = e.Sequence + 1
		e = d.pending[d.next]
		delete(d.pending, d.next)
	}
	if len(d.pending) == 0 && d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// gapTimeout gives up on the missing sequences before the earliest
// pending event: it reports the gap and moves on.
func (cv *Conversation) gapTimeout(dialogID, consumerID string) {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	// Checked under cv.mu: Close closes closing before router.stop takes
	// cv.mu, so no timer is armed after stop.
	select {
	case <-cv.c.closing:
		return
	default:
	}
	d := cv.dialogs[dialogID]
	if d == nil || len(d.pending) == 0 {
		return
	}
	if live := cv.c.live.Load(); live == nil || d.session != live {
		// Disconnected, or not yet resubscribed on this session: the
		// replay from d.next may still fill the hole. Wait again.
		d.timer = time.AfterFunc(cv.opts.GapTimeout, func() { cv.gapTimeout(dialogID, consumerID) })
		return
	}
	d.timer = nil
	first := -1
	for s := range d.pending {
		if first < 0 || s < first {
			first = s
		}
	}
	cv.push(ConversationEvent{Kind: KindGap, Dialog: dialogID, GapFrom: d.next, GapTo: first - 1})
	e := d.pending[first]
	delete(d.pending, first)
	cv.deliver(d, e, consumerID)
	if len(d.pending) > 0 { // another hole further on
		d.timer = time.AfterFunc(cv.opts.GapTimeout, func() { cv.gapTimeout(dialogID, consumerID) })
	}
}

// setInfo applies metadata unless it is older than what the conversation
// has, and returns the dialogs that opened (to subscribe to).
func (cv *Conversation) setInfo(info ConversationInfo, deleted bool) []string {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	if cv.known && !deleted && !info.LastUpdateTime.IsZero() && info.LastUpdateTime.Before(cv.info.LastUpdateTime) {
		return nil // out of order: older than what the app has seen
	}
	changes := diffInfo(cv.info, info, cv.known)
	if deleted {
		changes = append(changes, Change{Kind: ChangeConversationGone})
	}
	cv.info, cv.known = info, true
	if len(changes) > 0 {
		in := info
		cv.push(ConversationEvent{Kind: KindMetadata, Info: &in, Changes: changes})
	}
	var open []string
	for _, d := range info.Dialogs {
		if d.ChannelType == "MESSAGING" && d.State == ConversationOpen && d.ID != cv.id {
			if o := cv.dialogs[d.ID]; o == nil || !o.subscribed {
				open = append(open, d.ID)
			}
		}
	}
	return open
}

// diffInfo lists what changed from old to cur.
func diffInfo(old, cur ConversationInfo, known bool) []Change {
	var out []Change
	agents := func(ps []Participant) []Participant {
		var a []Participant
		for _, p := range ps {
			if p.Role == RoleAssignedAgent {
				a = append(a, p)
			}
		}
		return a
	}
	was, is := agents(old.Participants), agents(cur.Participants)
	for _, p := range is {
		if !slices.Contains(was, p) {
			out = append(out, Change{Kind: ChangeAgentJoined, Participant: p})
		}
	}
	for _, p := range was {
		if !slices.Contains(is, p) {
			out = append(out, Change{Kind: ChangeAgentLeft, Participant: p})
		}
	}
	if known && old.SkillID != cur.SkillID {
		out = append(out, Change{Kind: ChangeSkill})
	}
	if !known || old.State != cur.State {
		out = append(out, Change{Kind: ChangeState})
	}
	if !known || old.Stage != cur.Stage {
		out = append(out, Change{Kind: ChangeStage})
	}
	if known && (!ttrEqual(old.TTR, cur.TTR) || !delayEqual(old.Delay, cur.Delay) || !old.ManualETTR.Equal(cur.ManualETTR)) {
		out = append(out, Change{Kind: ChangeTTR})
	}
	if cur.CSAT != nil && (old.CSAT == nil || *old.CSAT != *cur.CSAT) {
		out = append(out, Change{Kind: ChangeCSAT})
	}
	prev := map[string]Dialog{}
	for _, d := range old.Dialogs {
		prev[d.ID] = d
	}
	for i := range cur.Dialogs {
		d := &cur.Dialogs[i]
		p, existed := prev[d.ID]
		switch {
		case d.Invitation != nil && (!existed || p.Invitation == nil || *p.Invitation != *d.Invitation):
			out = append(out, Change{Kind: ChangeInvitation, Dialog: d})
		case d.Invitation != nil:
		case !existed && d.State == ConversationOpen && d.Type != DialogMain:
			out = append(out, Change{Kind: ChangeDialogOpened, Dialog: d})
		case existed && p.State != ConversationClose && d.State == ConversationClose:
			out = append(out, Change{Kind: ChangeDialogClosed, Dialog: d})
		}
	}
	return out
}

func ttrEqual(a, b *TTR) bool     { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
func delayEqual(a, b *Delay) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
