package lpwindow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Typed requests: one method per consumer request (reference §7). Each
// checks the documented limits and enums first; a request that fails them
// returns an error matching ErrInvalidRequest and nothing is sent.

// The request types, as sent.
const (
	TypeGetClock                   = "GetClock"
	TypeInitConnection             = "InitConnection"
	TypeRequestConversation        = "cm.ConsumerRequestConversation"
	TypeUpdateConversationField    = "cm.UpdateConversationField"
	TypeSubscribeExConversations   = "cqm.SubscribeExConversations"
	TypeUnsubscribeExConversations = "cqm.UnsubscribeExConversations"
	TypeSubscribeMessagingEvents   = "ms.SubscribeMessagingEvents"
	TypePublishEvent               = "ms.PublishEvent"
	TypeGenerateUploadURL          = "ms.GenerateURLForUploadFile"
	TypeGenerateDownloadURL        = "ms.GenerateURLForDownloadFile"
)

// maxIDLen is the documented length limit of ids (reference §19).
const maxIDLen = 64

func checkID(name, v string, required bool) error {
	switch {
	case v == "" && required:
		return invalidf(ErrInvalidRequest, "%s is required", name)
	case len(v) > maxIDLen:
		return invalidf(ErrInvalidRequest, "%s is %d characters, more than %d", name, len(v), maxIDLen)
	}
	return nil
}

// ConversationState is the state or stage of a conversation or dialog.
type ConversationState string

// The conversation states.
const (
	ConversationOpen  ConversationState = "OPEN"
	ConversationClose ConversationState = "CLOSE"
)

// TTRType is an urgency profile (time to respond).
type TTRType string

// The TTR types.
const (
	TTRNormal      TTRType = "NORMAL"
	TTRUrgent      TTRType = "URGENT"
	TTRPrioritized TTRType = "PRIORITIZED"
	TTRCustom      TTRType = "CUSTOM"
)

// Campaign routes a new conversation through Campaigns for Messaging.
type Campaign struct {
	CampaignID   int64 `json:"campaignId"`
	EngagementID int64 `json:"engagementId"`
}

// ConversationContext describes the visitor's session (ids from LivePerson's
// monitoring API), sent with type "SharkContext".
type ConversationContext struct {
	VisitorID            string `json:"visitorId,omitempty"`
	SessionID            string `json:"sessionId,omitempty"`
	InteractionContextID string `json:"interactionContextId,omitempty"`
	Lang                 string `json:"lang,omitempty"` // IETF tag, e.g. "en-US"
}

// MarshalJSON adds the context type.
func (c ConversationContext) MarshalJSON() ([]byte, error) {
	type plain ConversationContext
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{"SharkContext", plain(c)})
}

// ConversationRequest is a cm.ConsumerRequestConversation (reference §7.1).
// The zero value routes by the account's defaults.
type ConversationRequest struct {
	SkillID  string               // route to a skill; "-1" is any skill
	Campaign *Campaign            // preferred routing
	Context  *ConversationContext // the visitor's session
	TTR      TTRType              // urgency profile: NORMAL, URGENT or PRIORITIZED; "" for the default
	BrandID  string               // the account id; optional
}

func (r ConversationRequest) body() (any, error) {
	if err := checkID("skillId", r.SkillID, false); err != nil {
		return nil, err
	}
	if r.TTR != "" && !slices.Contains([]TTRType{TTRNormal, TTRUrgent, TTRPrioritized}, r.TTR) {
		return nil, invalidf(ErrInvalidRequest, "ttrDefName %q is not NORMAL, URGENT or PRIORITIZED", r.TTR)
	}
	b := map[string]any{"channelType": "MESSAGING"}
	if r.SkillID != "" {
		b["skillId"] = r.SkillID
	}
	if r.Campaign != nil {
		b["campaignInfo"] = r.Campaign
	}
	if r.Context != nil {
		b["conversationContext"] = r.Context
	}
	if r.TTR != "" {
		b["ttrDefName"] = r.TTR
	}
	if r.BrandID != "" {
		b["brandId"] = r.BrandID
	}
	return b, nil
}

// RequestConversation opens a new conversation and returns its id, which
// is also its MAIN dialog's id.
func (c *Conn) RequestConversation(ctx context.Context, r ConversationRequest) (string, error) {
	body, err := r.body()
	if err != nil {
		return "", err
	}
	var out struct {
		ConversationID string `json:"conversationId"`
	}
	if err := c.call(ctx, TypeRequestConversation, body, &out); err != nil {
		return "", err
	}
	if out.ConversationID == "" {
		return "", fmt.Errorf("lpwindow: %s answered without a conversationId", TypeRequestConversation)
	}
	return out.ConversationID, nil
}

// ConversationField is one change of a cm.UpdateConversationField:
// CloseConversation, CloseStage, CloseDialog, SetTTR or RateCSAT.
type ConversationField interface {
	field() (map[string]any, error)
}

// CloseConversation closes the conversation (its MAIN dialog): field
// ConversationStateField. A post-conversation survey may follow.
type CloseConversation struct{}

func (CloseConversation) field() (map[string]any, error) {
	return map[string]any{"field": "ConversationStateField", "conversationState": ConversationClose}, nil
}

// CloseStage closes the whole conversation and every dialog, skipping any
// survey: field Stage.
type CloseStage struct{}

func (CloseStage) field() (map[string]any, error) {
	return map[string]any{"field": "Stage", "conversationState": ConversationClose}, nil
}

// CloseDialog closes one dialog (multi-dialog conversations): field
// DialogChange. ClosedCause defaults to "Closed by consumer".
type CloseDialog struct {
	DialogID    string
	ClosedCause string
}

func (f CloseDialog) field() (map[string]any, error) {
	if err := checkID("dialogId", f.DialogID, true); err != nil {
		return nil, err
	}
	cause := f.ClosedCause
	if cause == "" {
		cause = "Closed by consumer"
	}
	return map[string]any{"field": "DialogChange", "type": "UPDATE",
		"dialog": map[string]any{"dialogId": f.DialogID, "state": ConversationClose, "closedCause": cause}}, nil
}

// SetTTR marks the conversation's urgency: field TTRField. Value is
// whole seconds (for TTRCustom).
type SetTTR struct {
	Type  TTRType
	Value time.Duration
}

func (f SetTTR) field() (map[string]any, error) {
	if !slices.Contains([]TTRType{TTRNormal, TTRUrgent, TTRPrioritized, TTRCustom}, f.Type) {
		return nil, invalidf(ErrInvalidRequest, "ttrType %q is not CUSTOM, NORMAL, PRIORITIZED or URGENT", f.Type)
	}
	if f.Value < 0 {
		return nil, invalidf(ErrInvalidRequest, "TTR value must be >= 0")
	}
	return map[string]any{"field": "TTRField", "ttrType": f.Type, "value": int64(f.Value / time.Second)}, nil
}

// CSATStatus says how much of a CSAT survey was answered.
type CSATStatus string

// The CSAT statuses.
const (
	CSATFilled          CSATStatus = "FILLED"
	CSATPartiallyFilled CSATStatus = "PARTIALLY_FILLED"
	CSATSkipped         CSATStatus = "SKIPPED"
)

// RateCSAT submits the legacy satisfaction rating (1 to 5) after the
// conversation closed: field CSATRate.
type RateCSAT struct {
	Rate                   int
	ResolutionConfirmation bool
	Status                 CSATStatus
}

func (f RateCSAT) field() (map[string]any, error) {
	if f.Rate < 1 || f.Rate > 5 {
		return nil, invalidf(ErrInvalidRequest, "csatRate %d is not 1 to 5", f.Rate)
	}
	if !slices.Contains([]CSATStatus{CSATFilled, CSATPartiallyFilled, CSATSkipped}, f.Status) {
		return nil, invalidf(ErrInvalidRequest, "CSAT status %q is not FILLED, PARTIALLY_FILLED or SKIPPED", f.Status)
	}
	return map[string]any{"field": "CSATRate", "csatRate": f.Rate, "csatResolutionConfirmation": f.ResolutionConfirmation, "status": f.Status}, nil
}

// UpdateConversation sends a cm.UpdateConversationField with the fields,
// in order.
func (c *Conn) UpdateConversation(ctx context.Context, conversationID string, fields ...ConversationField) error {
	if err := checkID("conversationId", conversationID, true); err != nil {
		return err
	}
	if len(fields) == 0 {
		return invalidf(ErrInvalidRequest, "UpdateConversation needs a field")
	}
	list := make([]any, 0, len(fields))
	for _, f := range fields {
		if f == nil {
			return invalidf(ErrInvalidRequest, "UpdateConversation: nil field")
		}
		m, err := f.field()
		if err != nil {
			return err
		}
		list = append(list, m)
	}
	return c.call(ctx, TypeUpdateConversationField, map[string]any{"conversationId": conversationID, "conversationField": list}, nil)
}

// ConversationsFilter selects the conversations a metadata subscription
// reports. The zero value reports all of them.
type ConversationsFilter struct {
	States         []ConversationState // convState: the MAIN dialog's state
	Stages         []ConversationState // stage: the whole conversation's (multi-dialog clients)
	MinLastUpdated time.Time           // skip conversations not updated since; sent as epoch ms (reference §11.1)
}

// SubscribeConversations subscribes to cqm.ExConversationChangeNotification
// for the consumer's conversations and returns the subscription id. The
// first notification is a snapshot of the matching conversations.
func (c *Conn) SubscribeConversations(ctx context.Context, f ConversationsFilter) (string, error) {
	b := map[string]any{}
	for _, list := range []struct {
		name string
		v    []ConversationState
	}{{"convState", f.States}, {"stage", f.Stages}} {
		for _, s := range list.v {
			if s != ConversationOpen && s != ConversationClose {
				return "", invalidf(ErrInvalidRequest, "%s %q is not OPEN or CLOSE", list.name, s)
			}
		}
		if len(list.v) > 0 {
			b[list.name] = list.v
		}
	}
	if !f.MinLastUpdated.IsZero() {
		b["minLastUpdatedTime"] = f.MinLastUpdated.UnixMilli()
	}
	var out struct {
		SubscriptionID string `json:"subscriptionId"`
	}
	if err := c.call(ctx, TypeSubscribeExConversations, b, &out); err != nil {
		return "", err
	}
	return out.SubscriptionID, nil
}

// UnsubscribeConversations ends a metadata subscription.
func (c *Conn) UnsubscribeConversations(ctx context.Context, subscriptionID string) error {
	if err := checkID("subscriptionId", subscriptionID, true); err != nil {
		return err
	}
	return c.call(ctx, TypeUnsubscribeExConversations, map[string]string{"subscriptionId": subscriptionID}, nil)
}

// SubscribeMessagingEvents subscribes to a dialog's events from sequence
// fromSeq (inclusive; 0 replays all). conversationID may be "" for a MAIN
// dialog; the docs pass it for other dialogs.
func (c *Conn) SubscribeMessagingEvents(ctx context.Context, dialogID, conversationID string, fromSeq int) error {
	if err := checkID("dialogId", dialogID, true); err != nil {
		return err
	}
	if err := checkID("conversationId", conversationID, false); err != nil {
		return err
	}
	if fromSeq < 0 {
		return invalidf(ErrInvalidRequest, "fromSeq must be >= 0")
	}
	b := map[string]any{"dialogId": dialogID, "fromSeq": fromSeq}
	if conversationID != "" {
		b["conversationId"] = conversationID
	}
	return c.call(ctx, TypeSubscribeMessagingEvents, b, nil)
}

// Publication is an ms.PublishEvent.
type Publication struct {
	DialogID       string            // required
	ConversationID string            // optional; the docs pass it for non-MAIN dialogs
	Event          OutgoingEvent     // required
	Metadata       []json.RawMessage // envelope metadata items (e.g. a button's click metadata), or nil
}

// Publish sends an event and returns the sequence the server gave it (0
// for chat states, which have none).
func (c *Conn) Publish(ctx context.Context, p Publication) (int, error) {
	if err := checkID("dialogId", p.DialogID, true); err != nil {
		return 0, err
	}
	if err := checkID("conversationId", p.ConversationID, false); err != nil {
		return 0, err
	}
	if p.Event == nil {
		return 0, invalidf(ErrInvalidRequest, "Publish needs an event")
	}
	ev, err := p.Event.encode()
	if err != nil {
		return 0, err
	}
	b := map[string]any{"dialogId": p.DialogID, "event": ev}
	if p.ConversationID != "" {
		b["conversationId"] = p.ConversationID
	}
	body, err := json.Marshal(b)
	if err != nil {
		return 0, invalidf(ErrInvalidRequest, "%s body: %v", TypePublishEvent, err)
	}
	var md json.RawMessage
	if len(p.Metadata) > 0 {
		for _, m := range p.Metadata {
			if !json.Valid(m) || len(m) == 0 || m[0] != '{' {
				return 0, invalidf(ErrInvalidRequest, "metadata items must be JSON objects")
			}
		}
		if md, err = json.Marshal(p.Metadata); err != nil {
			return 0, invalidf(ErrInvalidRequest, "metadata: %v", err)
		}
	}
	resp, err := c.do(ctx, outgoing{typ: TypePublishEvent, body: body, metadata: md})
	if err != nil {
		return 0, err
	}
	var out struct {
		Sequence int `json:"sequence"`
	}
	if resp.Body != nil {
		if err := resp.Decode(&out); err != nil {
			return 0, err
		}
	}
	return out.Sequence, nil
}

// FileType is a file type the upload API accepts.
type FileType string

// The upload file types (reference §15).
const (
	FileJPG  FileType = "JPG"
	FileJPEG FileType = "JPEG"
	FilePNG  FileType = "PNG"
	FileGIF  FileType = "GIF"
)

// MaxFileSize is the largest file LivePerson accepts (3 MB).
const MaxFileSize = 3 << 20

// SignedURL is a temporary storage URL from GenerateUploadURL or
// GenerateDownloadURL. It is valid for about a minute.
type SignedURL struct {
	RelativePath string // the file's path on the swift host, starting with "/"
	Signature    string // temp_url_sig
	Expires      string // temp_url_expires, epoch seconds as sent
}

// Query returns the URL's query string, without "?".
func (u SignedURL) Query() string {
	return "temp_url_sig=" + u.Signature + "&temp_url_expires=" + u.Expires
}

// ExpiresAt returns when the URL expires, or the zero time when unknown.
func (u SignedURL) ExpiresAt() time.Time {
	s, err := strconv.ParseInt(u.Expires, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

// GenerateUploadURL asks for a URL to upload size bytes of type t. fileSize
// is sent as a string, as the schema documents (the docs also send numbers).
func (c *Conn) GenerateUploadURL(ctx context.Context, size int64, t FileType) (*SignedURL, error) {
	if !slices.Contains([]FileType{FileJPG, FileJPEG, FilePNG, FileGIF}, t) {
		return nil, invalidf(ErrInvalidRequest, "file type %q is not JPG, JPEG, PNG or GIF", t)
	}
	if size <= 0 || size > MaxFileSize {
		return nil, invalidf(ErrInvalidRequest, "file size %d is not 1 to %d bytes", size, MaxFileSize)
	}
	return c.signedURL(ctx, TypeGenerateUploadURL, map[string]string{"fileSize": strconv.FormatInt(size, 10), "fileType": string(t)})
}

// GenerateDownloadURL asks for a URL to download the file at relativePath.
func (c *Conn) GenerateDownloadURL(ctx context.Context, relativePath string) (*SignedURL, error) {
	if relativePath == "" || relativePath[0] != '/' {
		return nil, invalidf(ErrInvalidRequest, "relativePath %q must start with /", relativePath)
	}
	return c.signedURL(ctx, TypeGenerateDownloadURL, map[string]string{"relativePath": relativePath})
}

func (c *Conn) signedURL(ctx context.Context, typ string, body any) (*SignedURL, error) {
	var out struct {
		RelativePath string `json:"relativePath"`
		QueryParams  struct {
			Sig     flexText `json:"temp_url_sig"`
			Expires flexText `json:"temp_url_expires"`
		} `json:"queryParams"`
	}
	if err := c.call(ctx, typ, body, &out); err != nil {
		return nil, err
	}
	if out.RelativePath == "" || out.QueryParams.Sig == "" || out.QueryParams.Expires == "" {
		return nil, fmt.Errorf("lpwindow: %s answered without relativePath and queryParams", typ)
	}
	return &SignedURL{RelativePath: out.RelativePath, Signature: string(out.QueryParams.Sig), Expires: string(out.QueryParams.Expires)}, nil
}

// call sends a typed request and decodes the response body into out (when
// not nil and the body is present).
func (c *Conn) call(ctx context.Context, typ string, body, out any) error {
	raw, err := encodeBody(typ, body)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, outgoing{typ: typ, body: raw})
	if err != nil {
		return err
	}
	if out == nil || resp.Body == nil {
		return nil
	}
	return resp.Decode(out)
}
