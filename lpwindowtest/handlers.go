package lpwindowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lpwindow/lpwindow/internal/wire"
)

type handler func(sk *socket, t *tx, f *wire.Frame) reply

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"GetClock":                       getClock,
		"KeepAlive":                      func(*socket, *tx, *wire.Frame) reply { return ok(stringResp, "OK") },
		"InitConnection":                 func(*socket, *tx, *wire.Frame) reply { return fail(400, "already initialized") },
		"cm.ConsumerRequestConversation": requestConversation,
		"cm.UpdateConversationField":     updateConversationField,
		"cqm.SubscribeExConversations":   subscribeExConversations,
		"cqm.UnsubscribeExConversations": unsubscribeExConversations,
		"ms.SubscribeMessagingEvents":    subscribeMessagingEvents,
		"ms.PublishEvent":                publishEvent,
		"ms.GenerateURLForUploadFile":    generateUploadURL,
		"ms.GenerateURLForDownloadFile":  generateDownloadURL,
	}
}

// GetClock's response type name is UNCONFIRMED for consumers (reference
// §8); the body is the documented {currentTime}.
func getClock(*socket, *tx, *wire.Frame) reply {
	return ok("GetClockResponse", map[string]int64{"currentTime": nowMs()})
}

// decodeBody unmarshals the request body; a missing body decodes as {}.
func decodeBody(f *wire.Frame, v any) error {
	if f.Body == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(f.Body))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("invalid body: %v", err)
	}
	return nil
}

// oneOrMany accepts an array or, for a single element, the bare element
// (reference §5).
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(o))
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []T{one}
	return nil
}

// requestConversation: cm.ConsumerRequestConversation (reference §7.1).
// A consumer with an open conversation gets a 400 (UNCONFIRMED code).
func requestConversation(sk *socket, t *tx, f *wire.Frame) reply {
	var b struct {
		ChannelType  string          `json:"channelType"`
		TTRDefName   *string         `json:"ttrDefName"`
		SkillID      json.RawMessage `json:"skillId"`
		BrandID      string          `json:"brandId"`
		CampaignInfo *struct {
			CampaignID   json.RawMessage `json:"campaignId"`
			EngagementID json.RawMessage `json:"engagementId"`
		} `json:"campaignInfo"`
		ConversationContext map[string]any `json:"conversationContext"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	if b.ChannelType != "" && b.ChannelType != "MESSAGING" {
		return fail(400, "channelType must be MESSAGING")
	}
	ttr := ""
	if b.TTRDefName != nil {
		ttr = *b.TTRDefName
		if !slices.Contains([]string{"NORMAL", "URGENT", "PRIORITIZED"}, ttr) {
			return fail(400, "ttrDefName must be NORMAL, URGENT or PRIORITIZED")
		}
	}
	skill, err := idString(b.SkillID)
	if err != nil {
		return fail(400, "skillId: %v", err)
	}
	if b.CampaignInfo != nil {
		if _, err := idString(b.CampaignInfo.CampaignID); err != nil || len(b.CampaignInfo.CampaignID) == 0 {
			return fail(400, "campaignInfo.campaignId must be a number or a string")
		}
		if _, err := idString(b.CampaignInfo.EngagementID); err != nil || len(b.CampaignInfo.EngagementID) == 0 {
			return fail(400, "campaignInfo.engagementId must be a number or a string")
		}
	}
	st := sk.s.state
	for _, c := range st.convs {
		if c.consumerID == sk.consumerID && c.stage == "OPEN" {
			return fail(400, "the consumer already has an open conversation %s", c.id)
		}
	}
	c := st.newConversation(sk.consumerID, skill, ttr)
	t.meta(c)
	if sk.s.bot != nil {
		sk.s.bot.joinLocked(t, c)
	}
	return ok("cm.RequestConversationResponse", map[string]string{"conversationId": c.id})
}

// idString accepts a JSON string or number (absent: "").
func idString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if s, ok := wire.String(raw); ok {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("must be a string or a number")
	}
	return n.String(), nil
}

// ownConversation finds the consumer's conversation.
func (sk *socket) ownConversation(id string) (*conversation, reply, bool) {
	c := sk.s.state.convs[id]
	if id == "" || c == nil || c.consumerID != sk.consumerID {
		return nil, fail(400, "no conversation %q for this consumer", id), false
	}
	return c, reply{}, true
}

// ownDialog finds the consumer's dialog; conversationID, when given, must
// be its conversation.
func (sk *socket) ownDialog(dialogID, conversationID string) (*conversation, *dialog, reply, bool) {
	c := sk.s.state.byDlg[dialogID]
	if dialogID == "" || c == nil || c.consumerID != sk.consumerID {
		return nil, nil, fail(400, "no dialog %q for this consumer", dialogID), false
	}
	if conversationID != "" && conversationID != c.id {
		return nil, nil, fail(400, "dialog %q is not in conversation %q", dialogID, conversationID), false
	}
	return c, c.dialog(dialogID), reply{}, true
}

// updateConversationField: every documented consumer variant (reference §7.2).
func updateConversationField(sk *socket, t *tx, f *wire.Frame) reply {
	type field struct {
		Field             string `json:"field"`
		ConversationState string `json:"conversationState"`
		Type              string `json:"type"`
		Dialog            *struct {
			DialogID    string `json:"dialogId"`
			State       string `json:"state"`
			ClosedCause string `json:"closedCause"`
		} `json:"dialog"`
		TTRType                    string `json:"ttrType"`
		Value                      *int64 `json:"value"`
		CSATRate                   *int   `json:"csatRate"`
		CSATResolutionConfirmation *bool  `json:"csatResolutionConfirmation"`
		Status                     string `json:"status"`
	}
	var b struct {
		ConversationID    string           `json:"conversationId"`
		ConversationField oneOrMany[field] `json:"conversationField"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	c, r, found := sk.ownConversation(b.ConversationID)
	if !found {
		return r
	}
	if len(b.ConversationField) == 0 {
		return fail(400, "conversationField is required")
	}
	st := sk.s.state
	for _, fl := range b.ConversationField {
		switch fl.Field {
		case "ConversationStateField":
			if fl.ConversationState != "CLOSE" {
				return fail(400, "conversationState must be CLOSE")
			}
			st.closeDialog(t, c, c.main(), "CONSUMER", "Closed by consumer")
		case "Stage":
			if fl.ConversationState != "CLOSE" {
				return fail(400, "conversationState must be CLOSE")
			}
			if c.stage != "CLOSE" {
				st.closeStage(c, "CONSUMER")
				t.meta(c)
			}
		case "DialogChange":
			if fl.Type != "UPDATE" || fl.Dialog == nil || fl.Dialog.State != "CLOSE" {
				return fail(400, "DialogChange needs type UPDATE and dialog {dialogId, state: CLOSE}")
			}
			d := c.dialog(fl.Dialog.DialogID)
			if d == nil {
				return fail(400, "no dialog %q in the conversation", fl.Dialog.DialogID)
			}
			cause := fl.Dialog.ClosedCause
			if cause == "" {
				cause = "Closed by consumer"
			}
			st.closeDialog(t, c, d, "CONSUMER", cause)
		case "TTRField":
			if !slices.Contains([]string{"CUSTOM", "NORMAL", "PRIORITIZED", "URGENT"}, fl.TTRType) {
				return fail(400, "ttrType must be CUSTOM, NORMAL, PRIORITIZED or URGENT")
			}
			if fl.Value == nil || *fl.Value < 0 {
				return fail(400, "TTRField needs a value >= 0")
			}
			if c.state != "OPEN" {
				return fail(400, "the conversation is closed")
			}
			c.ttr = TTR{Type: fl.TTRType, Value: *fl.Value}
			touch(c, nil)
			t.meta(c)
		case "CSATRate":
			if fl.CSATRate == nil || *fl.CSATRate < 1 || *fl.CSATRate > 5 {
				return fail(400, "csatRate must be 1 to 5")
			}
			if fl.CSATResolutionConfirmation == nil || !slices.Contains([]string{"FILLED", "PARTIALLY_FILLED", "SKIPPED"}, fl.Status) {
				return fail(400, "CSATRate needs csatResolutionConfirmation and status FILLED, PARTIALLY_FILLED or SKIPPED")
			}
			c.csat = &CSAT{Field: "CSATRate", Rate: *fl.CSATRate, ResolutionConfirmation: *fl.CSATResolutionConfirmation, Status: fl.Status}
			touch(c, nil)
			t.meta(c)
		case "ParticipantsChange", "Skill":
			return fail(403, "%s is for agents", fl.Field)
		default:
			return fail(400, "unknown field %q", fl.Field)
		}
	}
	return ok(stringResp, "OK Conversation resolved successfully")
}

// subscribeExConversations answers with a subscription id, then sends the
// snapshot of matching conversations (possibly empty), then changes.
func subscribeExConversations(sk *socket, t *tx, f *wire.Frame) reply {
	var b struct {
		MinLastUpdatedTime int64    `json:"minLastUpdatedTime"`
		ConvState          []string `json:"convState"`
		Stage              []string `json:"stage"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	for _, v := range append(slices.Clone(b.ConvState), b.Stage...) {
		if v != "OPEN" && v != "CLOSE" {
			return fail(400, "convState and stage take OPEN and CLOSE, not %q", v)
		}
	}
	if b.MinLastUpdatedTime < 0 {
		return fail(400, "minLastUpdatedTime must be >= 0")
	}
	id := newID()
	mf := &metaFilter{convState: b.ConvState, stage: b.Stage, minUpdated: b.MinLastUpdatedTime, tracked: map[string]bool{}}
	sk.metaSubs[id] = mf
	changes := []any{}
	for _, c := range sortedConvs(sk.s.state, sk.consumerID) {
		if mf.matches(c) {
			mf.tracked[c.id] = true
			changes = append(changes, map[string]any{"type": "UPSERT", "result": c.result(sk.s.opts.Account)})
		}
	}
	snapshot := notificationBody(&id, changes)
	r := ok("cqm.SubscribeExConversationsResponse", map[string]string{"subscriptionId": id})
	r.then = func() { sk.sendNotification("cqm.ExConversationChangeNotification", snapshot) }
	return r
}

func sortedConvs(st *state, consumerID string) []*conversation {
	var out []*conversation
	for _, c := range st.convs {
		if c.consumerID == consumerID {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *conversation) int { return int(a.startTs - b.startTs) })
	return out
}

func unsubscribeExConversations(sk *socket, _ *tx, f *wire.Frame) reply {
	var b struct {
		SubscriptionID string `json:"subscriptionId"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	if _, found := sk.metaSubs[b.SubscriptionID]; !found {
		return fail(400, "no subscription %q", b.SubscriptionID)
	}
	delete(sk.metaSubs, b.SubscriptionID)
	return ok(stringResp, "OK")
}

// subscribeMessagingEvents answers, then replays the dialog's events from
// fromSeq (inclusive), then sends live events.
func subscribeMessagingEvents(sk *socket, _ *tx, f *wire.Frame) reply {
	var b struct {
		DialogID       string `json:"dialogId"`
		ConversationID string `json:"conversationId"`
		FromSeq        int    `json:"fromSeq"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	_, d, refused, found := sk.ownDialog(b.DialogID, b.ConversationID)
	if !found {
		return refused
	}
	if b.FromSeq < 0 {
		return fail(400, "fromSeq must be >= 0")
	}
	sk.dialogSubs[b.DialogID] = true
	var replay []any
	for _, e := range d.events {
		if e.Sequence >= b.FromSeq {
			replay = append(replay, e.change())
		}
	}
	r := ok("GenericSubscribeResponse", map[string]any{})
	r.then = func() { // after the response, in batches of 100
		for len(replay) > 0 {
			n := min(len(replay), 100)
			sk.sendNotification("ms.MessagingEventNotification", notificationBody(nil, replay[:n]))
			replay = replay[n:]
		}
	}
	return r
}

// publishEvent: ms.PublishEvent (reference §7.3).
func publishEvent(sk *socket, t *tx, f *wire.Frame) reply {
	var b struct {
		DialogID       string          `json:"dialogId"`
		ConversationID string          `json:"conversationId"`
		Event          json.RawMessage `json:"event"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	c, d, r, found := sk.ownDialog(b.DialogID, b.ConversationID)
	if !found {
		return r
	}
	if d.state != "OPEN" {
		return fail(400, "dialog %q is closed", b.DialogID)
	}
	kind, err := validateEvent(b.Event)
	if err != nil {
		return fail(400, "event: %v", err)
	}
	e := &Event{OriginatorID: sk.consumerID, Role: "CONSUMER", ConversationID: c.id, DialogID: d.id, Event: b.Event, Metadata: f.Metadata}
	if kind == "ChatStateEvent" {
		e.Sequence = -1
	}
	sk.s.state.addEvent(t, d, e)
	if c.survey != nil && d.typ == "POST_SURVEY" {
		sk.s.state.surveyObserve(t, c, d, e)
	}
	return ok("ms.PublishEventResponse", map[string]int{"sequence": max(e.Sequence, 0)})
}

var (
	acceptStatuses = []string{"ACCEPT", "READ", "ACCESS", "NACK", "ACTION"}
	chatStates     = []string{"ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE", "SIGNALED"}
)

// validateEvent checks a published event and returns its type.
func validateEvent(raw json.RawMessage) (string, error) {
	var e struct {
		Type         string          `json:"type"`
		ContentType  string          `json:"contentType"`
		Message      json.RawMessage `json:"message"`
		Content      json.RawMessage `json:"content"`
		Status       string          `json:"status"`
		SequenceList oneOrMany[int]  `json:"sequenceList"`
		ChatState    string          `json:"chatState"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &e) != nil {
		return "", fmt.Errorf("must be an event object")
	}
	switch e.Type {
	case "ContentEvent":
		switch {
		case e.ContentType == "text/plain":
			if s, ok := wire.String(e.Message); !ok || s == "" {
				return "", fmt.Errorf("a text/plain message must be a non-empty string")
			}
		case e.ContentType == "hosted/file":
			var m struct {
				RelativePath string `json:"relativePath"`
				FileType     string `json:"fileType"`
				Preview      string `json:"preview"`
			}
			if json.Unmarshal(e.Message, &m) != nil || m.RelativePath == "" || m.FileType == "" {
				return "", fmt.Errorf("a hosted/file message needs relativePath and fileType")
			}
			if len(m.Preview) > 30<<10 {
				return "", fmt.Errorf("the preview exceeds 30 KB")
			}
		case strings.HasPrefix(e.ContentType, "forms/"):
			if len(e.Message) == 0 || e.Message[0] != '{' {
				return "", fmt.Errorf("a %s message must be an object", e.ContentType)
			}
		default:
			return "", fmt.Errorf("unknown contentType %q", e.ContentType)
		}
	case "RichContentEvent":
		if len(e.Content) == 0 || (e.Content[0] != '{' && e.Content[0] != '"') {
			return "", fmt.Errorf("a RichContentEvent needs content")
		}
	case "AcceptStatusEvent":
		if !slices.Contains(acceptStatuses, e.Status) {
			return "", fmt.Errorf("status must be one of %v", acceptStatuses)
		}
		if len(e.SequenceList) == 0 || slices.ContainsFunc(e.SequenceList, func(n int) bool { return n < 0 }) {
			return "", fmt.Errorf("sequenceList must hold sequences >= 0")
		}
	case "ChatStateEvent":
		if !slices.Contains(chatStates, e.ChatState) {
			return "", fmt.Errorf("chatState must be one of %v", chatStates)
		}
	default:
		return "", fmt.Errorf("unknown event type %q", e.Type)
	}
	return e.Type, nil
}

// generateUploadURL: ms.GenerateURLForUploadFile (reference §15). fileSize
// is a string in the schema and a number in the docs: both are accepted.
func generateUploadURL(sk *socket, _ *tx, f *wire.Frame) reply {
	var b struct {
		FileSize json.RawMessage `json:"fileSize"`
		FileType string          `json:"fileType"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	sizeText, err := idString(b.FileSize)
	size, perr := strconv.ParseInt(sizeText, 10, 64)
	if err != nil || perr != nil || size <= 0 {
		return fail(400, "fileSize must be a positive integer")
	}
	if size > MaxFileSize {
		return fail(400, "fileSize exceeds 3 MB")
	}
	if !slices.Contains(FileTypes, b.FileType) {
		return fail(400, "fileType must be one of %v", FileTypes)
	}
	path := "/v1/AUTH_async-images/" + sk.s.opts.Account + "/" + newID() + "." + b.FileType
	return sk.s.files.urlReply(path, "PUT")
}

func generateDownloadURL(sk *socket, _ *tx, f *wire.Frame) reply {
	var b struct {
		RelativePath string `json:"relativePath"`
	}
	if err := decodeBody(f, &b); err != nil {
		return fail(400, "%v", err)
	}
	if !strings.HasPrefix(b.RelativePath, "/v1/AUTH_async-images/"+sk.s.opts.Account+"/") {
		return fail(400, "relativePath %q is not a file of this account", b.RelativePath)
	}
	if _, found := sk.s.File(b.RelativePath); !found {
		return fail(404, "no file at %q", b.RelativePath)
	}
	return sk.s.files.urlReply(b.RelativePath, "GET")
}

func (st *storage) urlReply(path, method string) reply {
	sig, exp := st.sign(method, path)
	return ok("ms.GenerateURLResponse", map[string]any{
		"relativePath": path,
		"queryParams":  map[string]string{"temp_url_sig": sig, "temp_url_expires": exp},
	})
}
