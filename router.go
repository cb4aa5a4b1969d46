package lpwindow

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// router routes a Conn's notifications to its Conversations.
type router struct {
	c        *Conn
	mu       sync.Mutex
	convs    map[string]*Conversation // tracked, by conversation id
	byDialog map[string]*Conversation
	infos    map[string]ConversationInfo // every conversation the metadata reported
	tasks    chan func(context.Context)  // follow-up requests, run on the router's worker
}

// conversations returns the Conn's router, starting it on first use: one
// metadata subscription whose snapshot has arrived.
func (c *Conn) conversations(ctx context.Context) (*router, error) {
	c.routerMu.Lock()
	defer c.routerMu.Unlock()
	if c.router != nil {
		return c.router, nil
	}
	r := &router{c: c, convs: map[string]*Conversation{}, byDialog: map[string]*Conversation{},
		infos: map[string]ConversationInfo{}, tasks: make(chan func(context.Context), 256)}
	snapshot := make(chan struct{})
	var once sync.Once
	// One subscription for both notification types, so that the stream
	// keeps the order in which the server sent metadata and events.
	msgBase, metaBase := typeBase(TypeMessagingEventNotification), typeBase(TypeConversationNotification)
	sub, err := c.Subscribe("", func(n *Notification) {
		switch typeBase(n.Type) {
		case msgBase:
			r.onEvents(n)
		case metaBase:
			r.onMetadata(n)
			once.Do(func() { close(snapshot) })
		}
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.SubscribeConversations(ctx, routerFilter); err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	select {
	case <-snapshot:
	case <-ctx.Done():
		sub.Unsubscribe()
		return nil, fmt.Errorf("lpwindow: waiting for the conversation snapshot: %w", ctx.Err())
	}
	c.group.Go(r.work)
	c.router = r
	return r, nil
}

// routerFilter is the metadata subscription of the conversation router.
var routerFilter = ConversationsFilter{
	States: []ConversationState{ConversationOpen, ConversationClose},
	Stages: []ConversationState{ConversationOpen, ConversationClose},
}

// resume subscribes again on session s (ctx is pinned to it) to the
// metadata and to every followed dialog, each from the sequence after the
// last one it delivered (reference §11.2: fromSeq is inclusive), so that
// nothing is delivered twice and nothing is skipped. Events that arrived
// ahead of a hole stay pending: the replay fills it. The first failure is
// returned; the caller then ends s, and the next session tries again.
func (r *router) resume(ctx context.Context, s *session) error {
	r.mu.Lock()
	convs := make([]*Conversation, 0, len(r.convs))
	for _, cv := range r.convs {
		convs = append(convs, cv)
	}
	r.mu.Unlock()
	if _, err := r.c.SubscribeConversations(ctx, routerFilter); err != nil {
		return fmt.Errorf("conversation metadata: %w", err)
	}
	for _, cv := range convs {
		cv.mu.Lock()
		var ids []string
		for id, d := range cv.dialogs {
			if d.subscribed {
				ids = append(ids, id)
			}
		}
		cv.mu.Unlock()
		for _, id := range ids {
			err := cv.subscribeOn(ctx, id, s)
			if refused(err) {
				// The server will not give this dialog to this consumer
				// (after a signup identity was replaced, say): trying on
				// another session would not help. Stop following it and
				// say so.
				cv.mu.Lock()
				cv.order(id).subscribed = false
				cv.mu.Unlock()
				r.c.emit(fmt.Errorf("lpwindow: conversation %s, dialog %s can no longer be followed: %w", cv.id, id, err))
				continue
			}
			if err != nil {
				return fmt.Errorf("dialog %s: %w", id, err)
			}
		}
	}
	return nil
}

// refused reports whether err is the server's 4xx answer (not 429): a
// request it will refuse again.
func refused(err error) bool {
	var ae *APIError
	return err != nil && errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500 && ae.Code != 429
}

// work runs follow-up requests until the Conn closes.
func (r *router) work() {
	for {
		select {
		case f := <-r.tasks:
			ctx, cancel := context.WithTimeout(context.Background(), r.c.cfg.RequestTimeout)
			f(ctx)
			cancel()
		case <-r.c.closing:
			return
		}
	}
}

func (r *router) openConversation() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best ConversationInfo
	for _, info := range r.infos {
		open := info.Stage == ConversationOpen || (info.Stage == "" && info.State == ConversationOpen)
		if open && (best.ID == "" || info.StartTime.After(best.StartTime)) {
			best = info
		}
	}
	return best.ID
}

func (r *router) track(id string, opts ConversationOptions) *Conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cv := r.convs[id]; cv != nil {
		return cv
	}
	cv := &Conversation{c: r.c, id: id, opts: opts, dialogs: map[string]*dialogOrder{}, wake: make(chan struct{}), handed: map[string]int{}}
	r.convs[id] = cv
	r.byDialog[id] = cv
	if info, ok := r.infos[id]; ok {
		r.followDialogs(cv, cv.setInfo(info, false))
	}
	return cv
}

func (r *router) untrack(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.convs, id)
	delete(r.byDialog, id)
}

// onEvents routes messaging events by dialog (subscription goroutine).
func (r *router) onEvents(n *Notification) {
	evs, err := DecodeMessagingEvents(n)
	if err != nil {
		r.c.log.Warn("lpwindow: undecodable messaging events", "err", err)
	}
	me := r.c.ConsumerID()
	for i := range evs {
		e := &evs[i]
		r.mu.Lock()
		cv := r.byDialog[e.DialogID]
		if cv == nil && e.ConversationID != "" {
			cv = r.convs[e.ConversationID]
		}
		r.mu.Unlock()
		if cv != nil {
			cv.addEvent(e, me)
		}
	}
}

// onMetadata applies conversation changes (subscription goroutine).
func (r *router) onMetadata(n *Notification) {
	_, changes, err := DecodeConversationChanges(n)
	if err != nil {
		r.c.log.Warn("lpwindow: undecodable conversation metadata", "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range changes {
		info := ch.Conversation
		deleted := ch.Type == "DELETE"
		if deleted {
			delete(r.infos, info.ID)
		} else if old, ok := r.infos[info.ID]; !ok || !info.LastUpdateTime.Before(old.LastUpdateTime) {
			r.infos[info.ID] = info
		}
		if cv := r.convs[info.ID]; cv != nil {
			for _, d := range info.Dialogs {
				r.byDialog[d.ID] = cv
			}
			r.followDialogs(cv, cv.setInfo(info, deleted))
		}
	}
}

// followDialogs subscribes to newly opened dialogs on the worker (r.mu held).
func (r *router) followDialogs(cv *Conversation, dialogs []string) {
	for _, id := range dialogs {
		r.byDialog[id] = cv
		select {
		case r.tasks <- func(ctx context.Context) {
			if err := cv.followDialog(ctx, id); err != nil {
				r.c.emit(fmt.Errorf("lpwindow: subscribing to dialog %s (to be retried after a reconnection): %w", id, err))
			}
		}:
		default:
			r.c.emit(fmt.Errorf("lpwindow: too many pending dialog subscriptions; dialog %s not followed", id))
		}
	}
}

// stop stops every gap timer, so no SDK code runs after Close.
func (r *router) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cv := range r.convs {
		cv.mu.Lock()
		for _, d := range cv.dialogs {
			if d.timer != nil {
				d.timer.Stop()
				d.timer = nil
			}
		}
		cv.mu.Unlock()
	}
}
