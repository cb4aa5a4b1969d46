package lpwindow

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Messaging event shapes (reference §7.3, §12-§14), in both directions:
// OutgoingEvent values are what Publish sends; notifications.go decodes
// what arrives.

// EventType is a messaging event's type.
type EventType string

// The event types.
const (
	EventContent      EventType = "ContentEvent"
	EventRichContent  EventType = "RichContentEvent"
	EventAcceptStatus EventType = "AcceptStatusEvent"
	EventChatState    EventType = "ChatStateEvent"
)

// Content types of ContentEvents (reference §9.1).
const (
	ContentText                 = "text/plain"
	ContentHostedFile           = "hosted/file"
	ContentSecureFormInvitation = "forms/secure-invitation"
	ContentSecureFormSubmission = "forms/secure-submission"
)

// AcceptStatus is a receipt's status.
type AcceptStatus string

// The receipt statuses.
const (
	StatusAccept AcceptStatus = "ACCEPT" // delivered to the device
	StatusRead   AcceptStatus = "READ"   // shown to the consumer
	StatusAction AcceptStatus = "ACTION" // the consumer acted on structured content
	StatusAccess AcceptStatus = "ACCESS" // UNCONFIRMED semantics (reference §12)
	StatusNack   AcceptStatus = "NACK"   // UNCONFIRMED semantics (reference §12)
)

// ChatState is a typing or presence state.
type ChatState string

// The chat states. SIGNALED is documented only on the live site, for
// signal messages (reference §13).
const (
	ChatActive    ChatState = "ACTIVE"
	ChatInactive  ChatState = "INACTIVE"
	ChatGone      ChatState = "GONE"
	ChatComposing ChatState = "COMPOSING"
	ChatPause     ChatState = "PAUSE"
	ChatSignaled  ChatState = "SIGNALED"
)

// HostedFileType is a shared file's type as a hosted/file event names it.
type HostedFileType string

// OutgoingEvent is an event Publish can send: Text, HostedFile,
// RichContent, Receipt or ChatStateChange.
type OutgoingEvent interface {
	encode() (map[string]any, error)
}

// Text is a text/plain ContentEvent.
type Text struct {
	Message string
}

func (e Text) encode() (map[string]any, error) {
	if e.Message == "" {
		return nil, invalidf(ErrInvalidRequest, "a text message must not be empty")
	}
	if !utf8.ValidString(e.Message) {
		return nil, invalidf(ErrInvalidRequest, "a text message must be valid UTF-8")
	}
	return map[string]any{"type": EventContent, "contentType": ContentText, "message": e.Message}, nil
}

// maxPreview bounds a hosted file's preview (reference §15: under 30 KB).
const maxPreview = 30 << 10

// HostedFile is a hosted/file ContentEvent: a file uploaded to storage.
type HostedFile struct {
	Caption      string         // optional in practice
	RelativePath string         // from GenerateUploadURL
	FileType     HostedFileType // e.g. "PNG"
	Preview      string         // optional base64 data URL, under 30 KB
}

func (e HostedFile) encode() (map[string]any, error) {
	if e.RelativePath == "" || e.RelativePath[0] != '/' {
		return nil, invalidf(ErrInvalidRequest, "a hosted file needs the relativePath from its upload URL")
	}
	if !slices.Contains([]HostedFileType{"IMG", "JPG", "JPEG", "PNG", "GIF", "TXT", "PDF"}, e.FileType) {
		return nil, invalidf(ErrInvalidRequest, "hosted file type %q is unknown", e.FileType)
	}
	if len(e.Preview) >= maxPreview {
		return nil, invalidf(ErrInvalidRequest, "the preview is %d bytes; it must be under 30 KB", len(e.Preview))
	}
	m := map[string]any{"caption": e.Caption, "relativePath": e.RelativePath, "fileType": e.FileType}
	if e.Preview != "" {
		m["preview"] = e.Preview
	}
	return map[string]any{"type": EventContent, "contentType": ContentHostedFile, "message": m}, nil
}

// RichContent is a RichContentEvent: structured content (a JSON element
// such as {"type":"vertical","elements":[...]}), sent in the "content"
// member as every real sample does (the schema's "message" is a documented
// mistake, reference §14).
type RichContent struct {
	Content json.RawMessage
}

func (e RichContent) encode() (map[string]any, error) {
	var el any
	if err := json.Unmarshal(e.Content, &el); err != nil {
		return nil, invalidf(ErrInvalidRequest, "rich content is not JSON: %v", err)
	}
	if err := checkElement("content", el); err != nil {
		return nil, err
	}
	return map[string]any{"type": EventRichContent, "content": json.RawMessage(e.Content)}, nil
}

// Receipt is an AcceptStatusEvent for the given sequences.
type Receipt struct {
	Status    AcceptStatus
	Sequences []int
}

func (e Receipt) encode() (map[string]any, error) {
	if !slices.Contains([]AcceptStatus{StatusAccept, StatusRead, StatusAction, StatusAccess, StatusNack}, e.Status) {
		return nil, invalidf(ErrInvalidRequest, "receipt status %q is unknown", e.Status)
	}
	if len(e.Sequences) == 0 || slices.ContainsFunc(e.Sequences, func(n int) bool { return n < 0 }) {
		return nil, invalidf(ErrInvalidRequest, "a receipt needs sequences >= 0")
	}
	return map[string]any{"type": EventAcceptStatus, "status": e.Status, "sequenceList": e.Sequences}, nil
}

// ChatStateChange is a ChatStateEvent (typing is COMPOSING; any other
// state stops it).
type ChatStateChange struct {
	State ChatState
}

func (e ChatStateChange) encode() (map[string]any, error) {
	if !slices.Contains([]ChatState{ChatActive, ChatInactive, ChatGone, ChatComposing, ChatPause, ChatSignaled}, e.State) {
		return nil, invalidf(ErrInvalidRequest, "chat state %q is unknown", e.State)
	}
	return map[string]any{"type": EventChatState, "chatState": e.State}, nil
}

// Rich-content limits (reference §19, ms/richContent/basic.json).
var richLimits = map[string]map[string]int{
	"text":        {"text": 5000},
	"image":       {"url": 2048, "caption": 128},
	"button":      {"title": 128},
	"linkPreview": {"url": 2048, "title": 128},
	"template":    {"title": 5000},
}

// checkElement checks a rich-content element and its children against the
// documented length limits. Unknown element types pass (forward
// compatibility); known ones must respect their limits.
func checkElement(path string, v any) error {
	el, ok := v.(map[string]any)
	if !ok {
		return invalidf(ErrInvalidRequest, "%s must be an object", path)
	}
	typ, _ := el["type"].(string)
	if typ == "" {
		return invalidf(ErrInvalidRequest, "%s needs a type", path)
	}
	for field, max := range richLimits[typ] {
		if s, ok := el[field].(string); ok && utf8.RuneCountInString(s) > max {
			return invalidf(ErrInvalidRequest, "%s.%s is %d characters, more than %d", path, field, utf8.RuneCountInString(s), max)
		}
	}
	if typ == "template" {
		resp, _ := el["resp"].([]any)
		if el["templateType"] == "quickReply" && len(resp) == 0 {
			return invalidf(ErrInvalidRequest, "%s: a quickReply template needs resp items", path)
		}
		for i, r := range resp {
			if s, ok := r.(string); ok && utf8.RuneCountInString(s) > 128 {
				return invalidf(ErrInvalidRequest, "%s.resp[%d] is more than 128 characters", path, i)
			}
		}
	}
	if children, ok := el["elements"].([]any); ok {
		for i, c := range children {
			if err := checkElement(path+".elements["+strconv.Itoa(i)+"]", c); err != nil {
				return err
			}
		}
	}
	return nil
}

// flexText decodes a JSON string or number as text (LivePerson sends ids
// and sizes both ways, reference §22).
type flexText string

func (t *flexText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = flexText(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*t = flexText(n.String())
	return nil
}
