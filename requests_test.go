package lpwindow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/internal/lpschema"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func fake(t *testing.T, opts lpwindowtest.Options) (*lpwindowtest.Server, *lpwindow.Conn, string) {
	t.Helper()
	return fakeWith(t, opts, nil)
}

// fakeWith is fake with a Config adjusted by edit (when not nil).
func fakeWith(t *testing.T, opts lpwindowtest.Options, edit func(*lpwindow.Config)) (*lpwindowtest.Server, *lpwindow.Conn, string) {
	t.Helper()
	s, err := lpwindowtest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	jwt, id, err := s.IssueToken()
	require.NoError(t, err)
	ts, err := lpwindow.StaticToken(jwt)
	require.NoError(t, err)
	cfg := s.Config(ts)
	if edit != nil {
		edit(&cfg)
	}
	c, err := lpwindow.Dial(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return s, c, id
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTypedRequests(t *testing.T) {
	s, c, consumer := fake(t, lpwindowtest.Options{})
	s.EnableSurvey(lpwindowtest.SurveyQuestion{ID: "q", Text: "Rate us", Answers: []string{"1", "5"}})
	ctx := tctx(t)
	sub, err := c.SubscribeConversations(ctx, lpwindow.ConversationsFilter{
		States: []lpwindow.ConversationState{lpwindow.ConversationOpen, lpwindow.ConversationClose},
		Stages: []lpwindow.ConversationState{lpwindow.ConversationOpen}, MinLastUpdated: time.Unix(1, 0)})
	require.NoError(t, err)
	assert.NotEmpty(t, sub)

	conv, err := c.RequestConversation(ctx, lpwindow.ConversationRequest{SkillID: "-1", TTR: lpwindow.TTRPrioritized,
		Campaign: &lpwindow.Campaign{CampaignID: 99999, EngagementID: 888888},
		Context:  &lpwindow.ConversationContext{VisitorID: "v", SessionID: "s", Lang: "en-US"}})
	require.NoError(t, err)
	cv, ok := s.Conversation(conv)
	require.True(t, ok)
	assert.Equal(t, consumer, cv.ConsumerID)
	assert.Equal(t, "-1", cv.SkillID)
	assert.Equal(t, "PRIORITIZED", cv.TTR.Type)

	require.NoError(t, c.SubscribeMessagingEvents(ctx, conv, "", 0))
	agent := s.NewAgent("Ann")
	require.NoError(t, agent.Join(conv))

	seq, err := c.Publish(ctx, lpwindow.Publication{DialogID: conv, ConversationID: conv, Event: lpwindow.Text{Message: "hello"},
		Metadata: []json.RawMessage{json.RawMessage(`{"type":"ExternalId","id":"m-1"}`)}})
	require.NoError(t, err)
	assert.Equal(t, 0, seq)
	_, err = c.Publish(ctx, lpwindow.Publication{DialogID: conv, Event: lpwindow.ChatStateChange{State: lpwindow.ChatComposing}})
	require.NoError(t, err)
	_, err = c.Publish(ctx, lpwindow.Publication{DialogID: conv, Event: lpwindow.ChatStateChange{State: lpwindow.ChatSignaled},
		Metadata: []json.RawMessage{json.RawMessage(`{"type":"Signal","payload":"{\"k\":\"v\"}"}`)}})
	require.NoError(t, err)
	aseq, err := agent.SendText(conv, "hi")
	require.NoError(t, err)
	seq, err = c.Publish(ctx, lpwindow.Publication{DialogID: conv, Event: lpwindow.Receipt{Status: lpwindow.StatusRead, Sequences: []int{aseq}}})
	require.NoError(t, err)
	assert.Equal(t, 2, seq)
	_, err = c.Publish(ctx, lpwindow.Publication{DialogID: conv, Event: lpwindow.RichContent{Content: json.RawMessage(`{"type":"vertical","elements":[{"type":"text","text":"hi"},{"type":"button","title":"ok","click":{"actions":[{"type":"publishText","text":"ok"}]}}]}`)}})
	require.NoError(t, err)

	// A file: upload URL, PUT, publish, download URL.
	up, err := c.GenerateUploadURL(ctx, 4, lpwindow.FilePNG)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Minute), up.ExpiresAt(), 10*time.Second)
	req, _ := http.NewRequest(http.MethodPut, s.URL()+up.RelativePath+"?"+up.Query(), bytes.NewReader([]byte("\x89PNG")))
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	_, err = c.Publish(ctx, lpwindow.Publication{DialogID: conv, Event: lpwindow.HostedFile{Caption: "pic", RelativePath: up.RelativePath, FileType: "PNG", Preview: "data:image/png;base64,AAAA"}})
	require.NoError(t, err)
	down, err := c.GenerateDownloadURL(ctx, up.RelativePath)
	require.NoError(t, err)
	assert.Equal(t, up.RelativePath, down.RelativePath)

	evs := s.Events(conv, "")
	require.Len(t, evs, 5) // text, agent text, receipt, rich content, file (chat states have no sequence)
	assert.Equal(t, "hello", evs[0].Text())
	assert.JSONEq(t, `[{"type":"ExternalId","id":"m-1"}]`, string(evs[0].Metadata))
	assert.Equal(t, "RichContentEvent", evs[3].Type())

	// Conversation fields.
	require.NoError(t, c.UpdateConversation(ctx, conv, lpwindow.SetTTR{Type: lpwindow.TTRUrgent, Value: 300 * time.Second}))
	cv, _ = s.Conversation(conv)
	assert.Equal(t, lpwindowtest.TTR{Type: "URGENT", Value: 300}, cv.TTR)
	require.NoError(t, c.UpdateConversation(ctx, conv, lpwindow.CloseConversation{}))
	cv, _ = s.Conversation(conv)
	require.Len(t, cv.Dialogs, 2, "the survey opened")
	require.NoError(t, c.UpdateConversation(ctx, conv, lpwindow.CloseDialog{DialogID: cv.Dialogs[1].ID}))
	cv, _ = s.Conversation(conv)
	assert.Equal(t, "CLOSE", cv.Stage)
	assert.Equal(t, "Closed by consumer", cv.Dialogs[1].ClosedCause)
	require.NoError(t, c.UpdateConversation(ctx, conv, lpwindow.RateCSAT{Rate: 4, ResolutionConfirmation: true, Status: lpwindow.CSATFilled}))
	cv, _ = s.Conversation(conv)
	assert.Equal(t, 4, cv.CSAT.Rate)

	conv2, err := c.RequestConversation(ctx, lpwindow.ConversationRequest{})
	require.NoError(t, err)
	require.NoError(t, c.UpdateConversation(ctx, conv2, lpwindow.CloseStage{}))
	cv, _ = s.Conversation(conv2)
	assert.Equal(t, "CLOSE", cv.Stage)
	require.NoError(t, c.UnsubscribeConversations(ctx, sub))

	checkRequestSchemas(t, s)
}

func TestTypedRequestValidationSendsNothing(t *testing.T) {
	s, c, _ := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	long := strings.Repeat("x", 65)
	cases := map[string]error{
		"skill id too long": func() error {
			_, err := c.RequestConversation(ctx, lpwindow.ConversationRequest{SkillID: long})
			return err
		}(),
		"bad ttrDefName": func() error {
			_, err := c.RequestConversation(ctx, lpwindow.ConversationRequest{TTR: lpwindow.TTRCustom})
			return err
		}(),
		"no conversation id": c.UpdateConversation(ctx, "", lpwindow.CloseConversation{}),
		"no field":           c.UpdateConversation(ctx, "c"),
		"nil field":          c.UpdateConversation(ctx, "c", nil),
		"csat 0":             c.UpdateConversation(ctx, "c", lpwindow.RateCSAT{Rate: 0, Status: lpwindow.CSATFilled}),
		"csat 6":             c.UpdateConversation(ctx, "c", lpwindow.RateCSAT{Rate: 6, Status: lpwindow.CSATFilled}),
		"csat status":        c.UpdateConversation(ctx, "c", lpwindow.RateCSAT{Rate: 3, Status: "DONE"}),
		"ttr type":           c.UpdateConversation(ctx, "c", lpwindow.SetTTR{Type: "SOON"}),
		"ttr negative":       c.UpdateConversation(ctx, "c", lpwindow.SetTTR{Type: lpwindow.TTRCustom, Value: -time.Second}),
		"close dialog no id": c.UpdateConversation(ctx, "c", lpwindow.CloseDialog{}),
		"bad filter": func() error {
			_, err := c.SubscribeConversations(ctx, lpwindow.ConversationsFilter{States: []lpwindow.ConversationState{"MAYBE"}})
			return err
		}(),
		"unsubscribe no id":     c.UnsubscribeConversations(ctx, ""),
		"subscribe no dialog":   c.SubscribeMessagingEvents(ctx, "", "", 0),
		"negative fromSeq":      c.SubscribeMessagingEvents(ctx, "d", "", -1),
		"publish no event":      pub(c, ctx, "d", nil),
		"empty text":            pub(c, ctx, "d", lpwindow.Text{}),
		"invalid utf8":          pub(c, ctx, "d", lpwindow.Text{Message: "\xff"}),
		"dialog id too long":    pub(c, ctx, long, lpwindow.Text{Message: "x"}),
		"receipt no sequences":  pub(c, ctx, "d", lpwindow.Receipt{Status: lpwindow.StatusRead}),
		"receipt bad status":    pub(c, ctx, "d", lpwindow.Receipt{Status: "SEEN", Sequences: []int{1}}),
		"receipt negative":      pub(c, ctx, "d", lpwindow.Receipt{Status: lpwindow.StatusRead, Sequences: []int{-1}}),
		"chat state":            pub(c, ctx, "d", lpwindow.ChatStateChange{State: "SLEEPING"}),
		"file without path":     pub(c, ctx, "d", lpwindow.HostedFile{FileType: "PNG"}),
		"file type":             pub(c, ctx, "d", lpwindow.HostedFile{RelativePath: "/x", FileType: "EXE"}),
		"preview too big":       pub(c, ctx, "d", lpwindow.HostedFile{RelativePath: "/x", FileType: "PNG", Preview: strings.Repeat("a", 30<<10)}),
		"rich content not JSON": pub(c, ctx, "d", lpwindow.RichContent{Content: json.RawMessage(`{`)}),
		"rich content no type":  pub(c, ctx, "d", lpwindow.RichContent{Content: json.RawMessage(`{"elements":[]}`)}),
		"rich text too long":    pub(c, ctx, "d", lpwindow.RichContent{Content: json.RawMessage(`{"type":"vertical","elements":[{"type":"text","text":"` + strings.Repeat("a", 5001) + `"}]}`)}),
		"button title too long": pub(c, ctx, "d", lpwindow.RichContent{Content: json.RawMessage(`{"type":"button","title":"` + strings.Repeat("a", 129) + `"}`)}),
		"quick reply no resp":   pub(c, ctx, "d", lpwindow.RichContent{Content: json.RawMessage(`{"type":"template","templateType":"quickReply","title":"t"}`)}),
		"metadata not object": func() error {
			_, err := c.Publish(ctx, lpwindow.Publication{DialogID: "d", Event: lpwindow.Text{Message: "x"}, Metadata: []json.RawMessage{json.RawMessage(`[1]`)}})
			return err
		}(),
		"upload type":    func() error { _, err := c.GenerateUploadURL(ctx, 10, "BMP"); return err }(),
		"upload too big": func() error { _, err := c.GenerateUploadURL(ctx, lpwindow.MaxFileSize+1, lpwindow.FilePNG); return err }(),
		"upload empty":   func() error { _, err := c.GenerateUploadURL(ctx, 0, lpwindow.FilePNG); return err }(),
		"download path":  func() error { _, err := c.GenerateDownloadURL(ctx, "relative"); return err }(),
	}
	for name, err := range cases {
		assert.ErrorIs(t, err, lpwindow.ErrInvalidRequest, name)
	}
	for _, f := range s.Frames() {
		assert.NotEqual(t, lpwindowtest.In, f.Direction, "sent %s", f.Data)
	}
}

func pub(c *lpwindow.Conn, ctx context.Context, dialog string, ev lpwindow.OutgoingEvent) error {
	_, err := c.Publish(ctx, lpwindow.Publication{DialogID: dialog, Event: ev})
	return err
}

// checkRequestSchemas validates every request the SDK sent against
// LivePerson's ws/consumerRequests.json, with the documented exceptions.
func checkRequestSchemas(t *testing.T, s *lpwindowtest.Server) {
	set, err := lpschema.Load(filepath.Join("..", "shared", "protocol", "schema"))
	require.NoError(t, err)
	if set == nil {
		t.Log("../shared/protocol/schema not present: schema checks skipped")
		return
	}
	checked := map[string]int{}
	for _, f := range s.Frames() {
		if f.Direction != lpwindowtest.In {
			continue
		}
		var doc map[string]any
		require.NoError(t, json.Unmarshal(f.Data, &doc))
		err := set.Validate("ws/consumerRequests.json", doc)
		if err == nil {
			checked[f.Type]++
			continue
		}
		// A frame may break the stored schema only where a documented
		// difference explains it.
		why := schemaException(doc)
		assert.NotEmpty(t, why, "%s\n%v", f.Data, err)
		t.Logf("differs from the schema (%s): %s", why, f.Data)
	}
	t.Logf("valid against the schema: %v", checked)
	assert.GreaterOrEqual(t, len(checked), 7)
}

// schemaException says why a request may differ from the stored schema,
// each a documented difference (reference §22): "" when it must validate.
func schemaException(doc map[string]any) string {
	body, _ := doc["body"].(map[string]any)
	ev, _ := body["event"].(map[string]any)
	switch {
	case doc["type"] == "GetClock":
		return "GetClock is not in the consumer request schema"
	case ev["type"] == "RichContentEvent":
		return "the schema names the member message; the wire uses content (§14)"
	case ev["chatState"] == "SIGNALED":
		return "SIGNALED is documented on the live site only (§13)"
	case doc["type"] == "cm.UpdateConversationField" && strings.Contains(mustJSON(body), `"Stage"`):
		return "the Stage field is documented in the PCS tutorial, not the schema (§7.2)"
	case doc["type"] == "cm.UpdateConversationField" && strings.Contains(mustJSON(body), `"DialogChange"`):
		return "DialogChange is documented in the PCS tutorial, not the schema (§7.2)"
	}
	return ""
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
