package lpwindow

import (
	"github.com/lpwindow/lpwindow/internal/wire"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Typed notifications (reference §9), decoded leniently (§22): a bare
// object where an array is expected, ids, sizes and times as numbers or
// strings, rich content as an object or a JSON string, old and new
// participant shapes. Unknown fields and enum values are kept: every typed
// value has its Raw JSON, and unknown enums pass through as strings.
// Decoding never panics; a notification that is not even shaped right is
// an error wrapping ErrMalformedNotification.

// ErrMalformedNotification is wrapped by errors from the Decode functions.
var ErrMalformedNotification = errors.New("lpwindow: malformed notification")

// The notification types (matched on their last segment by Subscribe).
const (
	TypeMessagingEventNotification = "ms.MessagingEventNotification"
	TypeConversationNotification   = "cqm.ExConversationChangeNotification"
)

// Role is a participant's role.
type Role string

// The roles.
const (
	RoleConsumer      Role = "CONSUMER"
	RoleAssignedAgent Role = "ASSIGNED_AGENT"
	RoleAgent         Role = "AGENT"
	RoleManager       Role = "MANAGER"
	RoleController    Role = "CONTROLLER"
	RoleReader        Role = "READER"
)

// Participant is a participant of a conversation, dialog or event.
type Participant struct {
	ID   string
	Role Role // "" when the source gave only ids
}

// MessagingEvent is one change of an ms.MessagingEventNotification.
type MessagingEvent struct {
	Sequence         int             // -1 when absent (chat states have none)
	OriginatorID     string          // the publisher (the consumer's own id on echoes)
	OriginatorRole   Role            // from originatorMetadata, "" when absent
	ClientProperties json.RawMessage // originatorMetadata.clientProperties, when sent
	ServerTime       time.Time       // zero when absent (chat states)
	ConversationID   string          // "" in older payloads
	DialogID         string
	Metadata         []json.RawMessage // change metadata items (Question, Answer, ExternalId…)
	Event            Event
	Raw              json.RawMessage // the whole change
}

// Event is a messaging event's content, whatever its type.
type Event struct {
	Type        EventType
	ContentType string // ContentEvent: text/plain, hosted/file, forms/…

	Text         string          // text/plain message
	File         *HostedFile     // hosted/file message
	Form         *SecureForm     // forms/secure-invitation and forms/secure-submission
	QuickReplies *QuickReplies   // quick replies riding on a ContentEvent
	Content      json.RawMessage // RichContentEvent: the element, always as an object
	Status       AcceptStatus    // AcceptStatusEvent
	Sequences    []int           // AcceptStatusEvent's sequenceList
	ChatState    ChatState       // ChatStateEvent
	Message      json.RawMessage // the raw message member, for content types not decoded above
	Raw          json.RawMessage // the whole event
}

// SecureForm is a secure-form invitation or submission.
type SecureForm struct {
	InvitationID string
	Title        string // invitations only
}

// QuickReplies are the buttons offered with a message (reference §14).
type QuickReplies struct {
	ItemsPerRow int
	Replies     []Button
	Raw         json.RawMessage
}

// Button is a rich-content button, as quick replies carry them.
type Button struct {
	Title    string
	Tooltip  string
	Actions  []Action          // what clicking does, executed by the client
	Metadata []json.RawMessage // click metadata, to send back with the answer
	Raw      json.RawMessage
}

// Action is a button action: publishText {text}, link {uri, name},
// navigate {la, lo, name}.
type Action struct {
	Type string
	Text string
	URI  string
	Name string
	Raw  json.RawMessage
}

// DecodeMessagingEvents decodes an ms.MessagingEventNotification.
func DecodeMessagingEvents(n *Notification) ([]MessagingEvent, error) {
	var body struct {
		Changes json.RawMessage `json:"changes"`
	}
	if err := decodeObject(n.Body, &body); err != nil {
		return nil, err
	}
	var out []MessagingEvent
	for _, raw := range list(body.Changes) {
		ev, err := decodeMessagingEvent(raw)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func decodeMessagingEvent(raw json.RawMessage) (MessagingEvent, error) {
	var c struct {
		Sequence           json.RawMessage `json:"sequence"`
		OriginatorID       json.RawMessage `json:"originatorId"`
		OriginatorPID      json.RawMessage `json:"originatorPId"`
		OriginatorMetadata *struct {
			ID               json.RawMessage `json:"id"`
			Role             string          `json:"role"`
			ClientProperties json.RawMessage `json:"clientProperties"`
		} `json:"originatorMetadata"`
		ServerTimestamp json.RawMessage `json:"serverTimestamp"`
		Event           json.RawMessage `json:"event"`
		ConversationID  json.RawMessage `json:"conversationId"`
		DialogID        json.RawMessage `json:"dialogId"`
		Metadata        json.RawMessage `json:"metadata"`
	}
	if err := decodeObject(raw, &c); err != nil {
		return MessagingEvent{}, err
	}
	m := MessagingEvent{
		Sequence: -1, OriginatorID: text(c.OriginatorID), ConversationID: text(c.ConversationID),
		DialogID: text(c.DialogID), ServerTime: millis(c.ServerTimestamp), Raw: raw,
	}
	if seq, ok := integer(c.Sequence); ok {
		m.Sequence = int(seq)
	}
	if m.OriginatorID == "" {
		m.OriginatorID = text(c.OriginatorPID) // the old protocol's name (§22.3)
	}
	if md := c.OriginatorMetadata; md != nil {
		m.OriginatorRole = Role(md.Role)
		m.ClientProperties = wire.NullToNil(md.ClientProperties)
		if m.OriginatorID == "" {
			m.OriginatorID = text(md.ID)
		}
	}
	m.Metadata = list(c.Metadata)
	ev, err := decodeEvent(c.Event)
	if err != nil {
		return m, err
	}
	m.Event = ev
	return m, nil
}

func decodeEvent(raw json.RawMessage) (Event, error) {
	var e struct {
		Type         string          `json:"type"`
		ContentType  string          `json:"contentType"`
		Message      json.RawMessage `json:"message"`
		Content      json.RawMessage `json:"content"`
		QuickReplies json.RawMessage `json:"quickReplies"`
		Status       string          `json:"status"`
		SequenceList json.RawMessage `json:"sequenceList"`
		ChatState    string          `json:"chatState"`
	}
	if err := decodeObject(raw, &e); err != nil {
		return Event{}, err
	}
	ev := Event{Type: EventType(e.Type), ContentType: e.ContentType, Raw: raw, Message: wire.NullToNil(e.Message),
		Status: AcceptStatus(e.Status), ChatState: ChatState(e.ChatState)}
	switch ev.Type {
	case "RichContent": // an old name of RichContentEvent (§22.5)
		ev.Type = EventRichContent
	}
	switch {
	case ev.Type == EventContent && (ev.ContentType == ContentText || ev.ContentType == ""):
		ev.Text = text(e.Message)
	case ev.Type == EventContent && (ev.ContentType == ContentHostedFile || ev.ContentType == "HostedFile"):
		var f struct {
			Caption      string          `json:"caption"`
			RelativePath string          `json:"relativePath"`
			FileType     string          `json:"fileType"`
			Preview      json.RawMessage `json:"preview"`
		}
		if decodeObject(e.Message, &f) == nil {
			ev.File = &HostedFile{Caption: f.Caption, RelativePath: f.RelativePath, FileType: HostedFileType(f.FileType), Preview: text(f.Preview)}
		}
	case ev.Type == EventContent && (ev.ContentType == ContentSecureFormInvitation || ev.ContentType == ContentSecureFormSubmission):
		var f struct {
			InvitationID json.RawMessage `json:"invitationId"`
			Title        string          `json:"title"`
		}
		if decodeObject(e.Message, &f) == nil {
			ev.Form = &SecureForm{InvitationID: text(f.InvitationID), Title: f.Title}
		}
	case ev.Type == EventRichContent:
		ev.Content = richContent(e.Content, e.Message)
	case ev.Type == EventAcceptStatus:
		for _, s := range list(e.SequenceList) {
			if n, ok := integer(s); ok {
				ev.Sequences = append(ev.Sequences, int(n))
			}
		}
	}
	if e.QuickReplies != nil && string(e.QuickReplies) != "null" {
		ev.QuickReplies = decodeQuickReplies(e.QuickReplies)
	}
	return ev, nil
}

// richContent returns the element as an object: "content" (the wire name)
// or "message" (the schema's), as an object or a JSON-encoded string.
func richContent(content, message json.RawMessage) json.RawMessage {
	for _, raw := range []json.RawMessage{content, message} {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) == nil && json.Valid([]byte(s)) {
				return json.RawMessage(s)
			}
			continue
		}
		return raw
	}
	return nil
}

func decodeQuickReplies(raw json.RawMessage) *QuickReplies {
	var q struct {
		ItemsPerRow json.RawMessage `json:"itemsPerRow"`
		Replies     json.RawMessage `json:"replies"`
	}
	qr := &QuickReplies{Raw: raw}
	if decodeObject(raw, &q) != nil {
		return qr
	}
	if n, ok := integer(q.ItemsPerRow); ok {
		qr.ItemsPerRow = int(n)
	}
	for _, b := range list(q.Replies) {
		qr.Replies = append(qr.Replies, decodeButton(b))
	}
	return qr
}

func decodeButton(raw json.RawMessage) Button {
	var b struct {
		Title   string `json:"title"`
		Tooltip string `json:"tooltip"`
		Click   struct {
			Actions  json.RawMessage `json:"actions"`
			Metadata json.RawMessage `json:"metadata"`
		} `json:"click"`
	}
	out := Button{Raw: raw}
	if decodeObject(raw, &b) != nil {
		return out
	}
	out.Title, out.Tooltip = b.Title, b.Tooltip
	for _, a := range list(b.Click.Actions) {
		var act struct {
			Type string `json:"type"`
			Text string `json:"text"`
			URI  string `json:"uri"`
			Name string `json:"name"`
		}
		if decodeObject(a, &act) == nil {
			out.Actions = append(out.Actions, Action{Type: act.Type, Text: act.Text, URI: act.URI, Name: act.Name, Raw: a})
		}
	}
	out.Metadata = list(b.Click.Metadata)
	return out
}

// decodeObject unmarshals an object; anything else is malformed.
func decodeObject(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("%w: want an object, got %.40s", ErrMalformedNotification, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedNotification, err)
	}
	return nil
}

// list returns the elements of an array, or the value itself when it is a
// bare element (a one-element array may be sent bare, §5); nil for absent
// or null.
func list(raw json.RawMessage) []json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] != '[' {
		return []json.RawMessage{raw}
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	return items
}

// text returns a string or number as text; "" otherwise.
func text(raw json.RawMessage) string {
	var t flexText
	if len(raw) == 0 || t.UnmarshalJSON(raw) != nil {
		return ""
	}
	return string(t)
}

// integer returns a number or numeric string as an integer.
func integer(raw json.RawMessage) (int64, bool) {
	s := text(raw)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f), true
	}
	return 0, false
}

// millis returns an epoch-milliseconds value as a time; zero for absent,
// zero or negative values.
func millis(raw json.RawMessage) time.Time {
	n, ok := integer(raw)
	if !ok || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}
