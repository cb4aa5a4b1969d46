package lpwindowtest_test

// Conformance of the fake with LivePerson's published material in
// ../shared/protocol (skipped when absent). The checks come from the
// documents, not from the SDK, so that client and fake cannot agree on a
// mistake.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/internal/lpschema"
	"github.com/lpwindow/lpwindow/internal/wire"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

var examplesDir = filepath.Join("..", "..", "shared", "protocol", "examples")

func examples(t *testing.T) map[string][]byte {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if len(paths) == 0 {
		t.Skip("../shared/protocol/examples not present")
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.Base(p)] = b
	}
	return out
}

// rawClient is a websocket speaking exact frames.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, s *lpwindowtest.Server, jwtText string) *rawClient {
	ctx := ctxT(t)
	ws, _, err := websocket.Dial(ctx, "ws://"+s.Host()+"/ws_api/account/"+s.Account()+"/messaging/consumer?v=3",
		&websocket.DialOptions{HTTPHeader: map[string][]string{"Authorization": {"jwt " + jwtText}}})
	require.NoError(t, err)
	ws.SetReadLimit(-1)
	t.Cleanup(func() { ws.CloseNow() })
	return &rawClient{t: t, ws: ws}
}

// roundTrip sends frame and returns the response to it.
func (c *rawClient) roundTrip(frame []byte) *wire.Frame {
	c.t.Helper()
	req, err := wire.Decode(frame)
	require.NoError(c.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(c.t, c.ws.Write(ctx, websocket.MessageText, frame))
	for {
		_, b, err := c.ws.Read(ctx)
		require.NoError(c.t, err)
		f, err := wire.Decode(b)
		require.NoError(c.t, err)
		if f.Kind == wire.KindResponse && f.ReqID == req.ID {
			return f
		}
	}
}

// Documented request samples the fake rightly refuses, and why.
var refusedSamples = map[string]string{
	"req_PublishEvent_HostedFile__file-sharing.json":               "an editor template: relativePath is empty",
	"req_PublishEvent_HostedFile_bash__file-sharing.json":          "a shell template: relativePath is a shell variable",
	"req_GenerateURLForDownloadFile__generate-download-url.json":   "no file is stored at that sample path (404)",
	"req_GenerateURLForDownloadFile__file-sharing.json":            "a template path",
	"req_GenerateURLForDownloadFile_bash__file-sharing.json":       "a shell template",
	"req_SetUserProfile_lp_sdes__connector-api-conversation.json":  "not a consumer websocket request (Connector API)",
	"req_InitConnection__init-connection.json":                     "carries the jwt.io sample token",
	"req_InitConnection__avoid-websocket-headers.json":             "sent on an already authenticated socket",
	"req_InitConnection_CO_BROWSE__cobrowse.json":                  "sent on an already authenticated socket",
	"req_InitConnection_calls__voice-and-video-calls.json":         "sent on an already authenticated socket",
	"req_generic_AgentRequestConversation__protocol-overview.json": "an agent request, shown as a framing example",
	"req_generic_MyRequest__protocol-overview.json":                "a made-up type, shown as a framing example",
}

func TestFakeAcceptsDocumentedRequests(t *testing.T) {
	ex := examples(t)
	s := newServer(t, lpwindowtest.Options{Account: "12345678"})
	s.EnableSurvey(lpwindowtest.SurveyQuestion{ID: "q", Text: "Rate us", Answers: []string{"1", "2"}})
	var names []string
	for n := range ex {
		if strings.HasPrefix(n, "req_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	accepted := 0
	for _, name := range names {
		if why := refusedSamples[name]; why != "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			jwtText, _, err := s.IssueToken()
			require.NoError(t, err)
			c := dialRaw(t, s, jwtText)
			frame := string(ex[name])
			if !strings.Contains(name, "ConsumerRequestConversation") {
				// A live conversation with an agent's message (sequence 0),
				// and, for survey samples, a post-survey dialog.
				r := c.roundTrip([]byte(`{"kind":"req","id":"setup","type":"cm.ConsumerRequestConversation"}`))
				require.Equal(t, 200, r.Code, string(r.Body))
				var b struct{ ConversationID string }
				require.NoError(t, json.Unmarshal(r.Body, &b))
				conv := b.ConversationID
				a := s.NewAgent("A")
				require.NoError(t, a.Join(conv))
				_, err := a.SendText(conv, "question")
				require.NoError(t, err)
				survey := ""
				if strings.Contains(frame, "__YOUR_POST_SURVEY_DIALOG_ID__") {
					require.NoError(t, a.Close(conv))
					cv, _ := s.Conversation(conv)
					survey = cv.Dialogs[1].ID
				}
				frame = strings.NewReplacer("__YOUR_CONVERSATION_ID__", conv, "__CONVERSATION_ID__", conv,
					"__DIALOG_ID__", conv, "__YOUR_POST_SURVEY_DIALOG_ID__", survey, `"__SEQUENCE__"`, "0", "__SEQUENCE__", "0").Replace(frame)
				// API-reference seeds use words ("id", "Conversation ID") for
				// ids: put live ones in their place.
				var f map[string]any
				require.NoError(t, json.Unmarshal([]byte(frame), &f))
				if body, ok := f["body"].(map[string]any); ok {
					if _, ok := body["conversationId"]; ok {
						body["conversationId"] = conv
					}
					if _, ok := body["subscriptionId"]; ok {
						r := c.roundTrip([]byte(`{"kind":"req","id":"setup2","type":"cqm.SubscribeExConversations","body":{}}`))
						var sb struct{ SubscriptionID string }
						require.NoError(t, json.Unmarshal(r.Body, &sb))
						body["subscriptionId"] = sb.SubscriptionID
					}
					for _, fl := range asList(body["conversationField"]) {
						if d, ok := fl.(map[string]any)["dialog"].(map[string]any); ok && d["dialogId"] != survey {
							d["dialogId"] = conv
						}
					}
				}
				b2, err := json.Marshal(f)
				require.NoError(t, err)
				frame = string(b2)
			}
			r := c.roundTrip([]byte(frame))
			assert.True(t, r.Code >= 200 && r.Code < 300, "%s answered %d: %s", name, r.Code, r.Body)
			accepted++
		})
	}
	assert.Greater(t, accepted, 20)
}

// sameShape reports every key path of doc that got lacks or holds with
// another JSON type. Arrays compare their first elements.
func sameShape(path string, doc, got any, skip map[string]bool) []string {
	if skip[path] {
		return nil
	}
	switch d := doc.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": want an object"}
		}
		var out []string
		for k, v := range d {
			gv, ok := g[k]
			if !ok {
				if !skip[path+"."+k] {
					out = append(out, path+"."+k+": missing")
				}
				continue
			}
			out = append(out, sameShape(path+"."+k, v, gv, skip)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{path + ": want an array"}
		}
		if len(d) == 0 || len(g) == 0 {
			return nil
		}
		return sameShape(path+"[]", d[0], g[0], skip)
	case string:
		if _, ok := got.(string); !ok {
			return []string{path + ": want a string"}
		}
	case float64:
		if _, ok := got.(float64); !ok {
			return []string{path + ": want a number"}
		}
	case bool:
		if _, ok := got.(bool); !ok {
			return []string{path + ": want a boolean"}
		}
	}
	return nil
}

func decodeAny(t *testing.T, b []byte) any {
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	return v
}

// outFrames returns the frames the server sent of a notification type.
func outFrames(s *lpwindowtest.Server, typ string) [][]byte {
	var out [][]byte
	for _, f := range s.Frames() {
		if f.Direction == lpwindowtest.Out && f.Type == typ {
			out = append(out, f.Data)
		}
	}
	return out
}

func TestFakeEmitsDocumentedShapes(t *testing.T) {
	ex := examples(t)
	s := newServer(t, lpwindowtest.Options{})
	s.EnableSurvey(lpwindowtest.SurveyQuestion{ID: "q", Text: "Rate us", Answers: []string{"1", "5"}})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	k.req("cqm.SubscribeExConversations", map[string]any{"convState": []string{"OPEN", "CLOSE"}, "stage": []string{"OPEN", "CLOSE"}})
	conv := k.open()
	k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv})
	a := s.NewAgent("A")
	require.NoError(t, a.Join(conv))
	require.NoError(t, a.SetTTR(conv, lpwindowtest.TTR{Type: "PRIORITIZED", Value: 600}))
	k.req("ms.PublishEvent", text(conv, "Hello from the consumer"))
	k.req("ms.GenerateURLForUploadFile", map[string]any{"fileSize": "10", "fileType": "PNG"})
	_, err := a.SendText(conv, "some agent text")
	require.NoError(t, err)
	_, err = a.Accept(conv, 0)
	require.NoError(t, err)
	require.NoError(t, a.SetChatState(conv, "ACTIVE"))
	cb, err := a.InviteCoBrowse(conv, "shared")
	require.NoError(t, err)
	k.req("cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": map[string]any{"field": "ConversationStateField", "conversationState": "CLOSE"}})
	k.wait("survey open", func() bool {
		return k.lastConversation(conv)["stage"] == "OPEN" && k.lastConversation(conv)["state"] == "CLOSE"
	})
	cv, _ := s.Conversation(conv)
	k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": cv.Dialogs[len(cv.Dialogs)-1].ID, "conversationId": conv})
	k.wait("survey question", func() bool {
		for _, b := range outFrames(s, "ms.MessagingEventNotification") {
			if strings.Contains(string(b), `"quickReplies"`) {
				return true
			}
		}
		return false
	})

	// Conversation metadata: the PCS sample (MAIN closed, survey open).
	var lastMeta any
	for _, b := range outFrames(s, "cqm.ExConversationChangeNotification") {
		lastMeta = decodeAny(t, b)
	}
	doc := decodeAny(t, ex["notif_ExConversationChangeNotification_mainClosed_postSurveyOpen__post-conversation-survey-pcs.json"])
	assert.Empty(t, sameShape("", doc, lastMeta, nil))

	// Messaging events: consumer echo, agent text, receipt, chat state.
	byEvent := map[string]any{}
	for _, b := range outFrames(s, "ms.MessagingEventNotification") {
		n := decodeAny(t, b).(map[string]any)
		for _, ch := range n["body"].(map[string]any)["changes"].([]any) {
			ev := ch.(map[string]any)["event"].(map[string]any)
			key := ev["type"].(string) + "/" + ch.(map[string]any)["originatorMetadata"].(map[string]any)["role"].(string)
			byEvent[key] = map[string]any{"kind": n["kind"], "type": n["type"], "body": map[string]any{"changes": []any{ch}}}
		}
	}
	for sample, key := range map[string]string{
		"notif_MessagingEventNotification_consumerEcho__post-conversation-survey-pcs.json":        "ContentEvent/CONSUMER",
		"notif_MessagingEventNotification_agentText__read-and-accept-events.json":                 "ContentEvent/ASSIGNED_AGENT",
		"notif_MessagingEventNotification_agentText2__post-conversation-survey-pcs.json":          "ContentEvent/ASSIGNED_AGENT",
		"notif_MessagingEventNotification_AcceptStatus_ACCEPT__post-conversation-survey-pcs.json": "AcceptStatusEvent/ASSIGNED_AGENT",
		"notif_MessagingEventNotification_ChatState_ACTIVE__post-conversation-survey-pcs.json":    "ChatStateEvent/ASSIGNED_AGENT",
	} {
		require.Contains(t, byEvent, key)
		assert.Empty(t, sameShape("", decodeAny(t, ex[sample]), byEvent[key], nil), sample)
	}

	// The CoBrowse invitation dialog.
	var cobrowse any
	for _, d := range dialogsOf(k.lastConversation(conv)) {
		if d.(map[string]any)["dialogId"] == cb {
			cobrowse = d
		}
	}
	assert.Empty(t, sameShape("", decodeAny(t, ex["other_dialog_COBROWSE_invited__cobrowse.json"]), cobrowse, nil))

	// A survey question's button: the documented click metadata and
	// actions; styling is the renderer's business and not emitted.
	var button any
	for _, b := range outFrames(s, "ms.MessagingEventNotification") {
		if strings.Contains(string(b), `"quickReplies"`) {
			n := decodeAny(t, b).(map[string]any)
			ch := n["body"].(map[string]any)["changes"].([]any)[0].(map[string]any)
			button = ch["event"].(map[string]any)["quickReplies"].(map[string]any)["replies"].([]any)[0]
		}
	}
	assert.Empty(t, sameShape("", decodeAny(t, ex["other_quickReply_button__post-conversation-survey-pcs.json"]), button, map[string]bool{".style": true}), "%v", button)

	// The Domain API list and the consumer JWT's claims.
	_, body := get(t, s, "/csdr/account/"+s.Account()+"/service/baseURI.json?version=1.0")
	assert.Empty(t, sameShape("", decodeAny(t, ex["other_domainAPI_response__domain-api.json"]), decodeAny(t, []byte(body)), nil))
	jwtText, _, err := s.IssueToken()
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(jwtText, claims)
	require.NoError(t, err)
	claims["aud"] = claims["aud"].([]any)[0] // golang-jwt writes a one-element array; the docs a string: both are valid JWT
	assert.Empty(t, sameShape("", decodeAny(t, ex["other_jwt_payload__get-messages.json"]), map[string]any(claims), nil))

	checkSchemas(t, s)
}

// checkSchemas validates every frame the server sent against LivePerson's
// published frame schemas (ws/consumerNotifications.json and
// ws/consumerResponses.json).
func checkSchemas(t *testing.T, s *lpwindowtest.Server) {
	set, err := lpschema.Load(filepath.Join("..", "..", "shared", "protocol", "schema"))
	require.NoError(t, err)
	if set == nil {
		t.Log("../shared/protocol/schema not present: schema checks skipped")
		return
	}
	// Where schema and documented samples disagree, the samples win, and
	// the test shows the sample breaking the same rule: the PCS sample's
	// participants include AGENT, READER and CONTROLLER roles, which the
	// schema's enum (CONSUMER, ASSIGNED_AGENT, MANAGER) lacks.
	pcs, err := os.ReadFile(filepath.Join(examplesDir, "notif_ExConversationChangeNotification_mainClosed_postSurveyOpen__post-conversation-survey-pcs.json"))
	require.NoError(t, err)
	docErr := set.Validate("ws/consumerNotifications.json", pcs)
	require.Error(t, docErr)
	require.Contains(t, docErr.Error(), "participants/")
	require.NoError(t, set.Validate("ws/consumerNotifications.json", withSchemaRoles(decodeAny(t, pcs))), "only the roles differ")

	checked := map[string]int{}
	for _, f := range s.Frames() {
		if f.Direction != lpwindowtest.Out {
			continue
		}
		doc := decodeAny(t, f.Data).(map[string]any)
		name := "ws/consumerResponses.json"
		if f.Kind == "notification" {
			name = "ws/consumerNotifications.json"
			if f.Type == "ms.MessagingEventNotification" {
				// The schema requires sequence and serverTimestamp on every
				// change; chat-state changes have neither (reference §9.1,
				// documented samples). Validate the others.
				body := doc["body"].(map[string]any)
				var keep []any
				for _, ch := range body["changes"].([]any) {
					if ch.(map[string]any)["event"].(map[string]any)["type"] != "ChatStateEvent" {
						keep = append(keep, ch)
					}
				}
				if len(keep) == 0 {
					continue
				}
				body["changes"] = keep
			}
		} else if !schemaResponses[f.Type] {
			continue
		}
		assert.NoError(t, set.Validate(name, withSchemaRoles(doc)), "%s %s", f.Type, f.Data)
		checked[f.Type]++
	}
	t.Logf("schema-checked frames: %v", checked)
	assert.NotZero(t, checked["ms.MessagingEventNotification"])
	assert.NotZero(t, checked["cqm.ExConversationChangeNotification"])
	assert.NotZero(t, checked["ms.GenerateURLResponse"])
}

// schemaResponses are the response types ws/consumerResponses.json
// describes; the others (GetClock's, GenericSubscribeResponse) have no
// published schema.
var schemaResponses = map[string]bool{
	"cm.RequestConversationResponse": true, "ms.PublishEventResponse": true,
	"cqm.SubscribeExConversationsResponse": true, ".ReqBody$StringResp": true, "ms.GenerateURLResponse": true,
}

// asList returns v as a list: an array, or a bare element (reference §5).
func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

// withSchemaRoles replaces the participant roles the samples use but the
// schema lacks (AGENT, READER, CONTROLLER) with MANAGER, in place.
func withSchemaRoles(doc any) any {
	switch x := doc.(type) {
	case map[string]any:
		for k, v := range x {
			if k == "participants" {
				for _, p := range asList(v) {
					if m, ok := p.(map[string]any); ok {
						switch m["role"] {
						case "AGENT", "READER", "CONTROLLER":
							m["role"] = "MANAGER"
						}
					}
				}
			}
			withSchemaRoles(v)
		}
	case []any:
		for _, e := range x {
			withSchemaRoles(e)
		}
	}
	return doc
}
