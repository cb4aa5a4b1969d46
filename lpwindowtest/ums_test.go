package lpwindowtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func TestConversationLifecycle(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, consumerID := connect(t, s, lpwindow.AuthHeaders)

	// The snapshot of an empty subscription is an empty changes array.
	var sub struct{ SubscriptionID string }
	r := k.req("cqm.SubscribeExConversations", map[string]any{"convState": []string{"OPEN", "CLOSE"}, "stage": []string{"OPEN", "CLOSE"}})
	assert.Equal(t, "cqm.SubscribeExConversationsResponse", r.Type)
	require.NoError(t, r.Decode(&sub))
	require.NotEmpty(t, sub.SubscriptionID)
	k.wait("snapshot", func() bool { return k.count() >= 1 })
	k.mu.Lock()
	assert.JSONEq(t, `{"subscriptionId":"`+sub.SubscriptionID+`","changes":[]}`, string(k.n[0].Body))
	k.mu.Unlock()

	conv := k.open()
	err := k.reqErr("cm.ConsumerRequestConversation", nil)
	assert.ErrorIs(t, err, lpwindow.ErrBadRequest, "one open conversation per consumer")
	k.wait("UPSERT", func() bool { return k.lastConversation(conv) != nil })
	d := k.lastConversation(conv)
	assert.Equal(t, "OPEN", d["state"])
	assert.Equal(t, "OPEN", d["stage"])
	dialogs := d["dialogs"].([]any)
	require.Len(t, dialogs, 1)
	assert.Equal(t, conv, dialogs[0].(map[string]any)["dialogId"], "the MAIN dialog id is the conversation id")
	assert.Equal(t, "MAIN", dialogs[0].(map[string]any)["dialogType"])

	// Agent joins: ASSIGNED_AGENT appears.
	agent := s.NewAgent("Ann")
	require.NoError(t, agent.Join(conv))
	k.wait("agent joined", func() bool {
		parts, _ := k.lastConversation(conv)["participants"].([]any)
		for _, p := range parts {
			if p.(map[string]any)["role"] == "ASSIGNED_AGENT" && p.(map[string]any)["id"] == agent.ID() {
				return true
			}
		}
		return false
	})

	// Subscribe to events, publish: the response carries the sequence and
	// the publisher gets its own event back.
	r = k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv, "fromSeq": 0})
	assert.Equal(t, "GenericSubscribeResponse", r.Type)
	var pub struct{ Sequence int }
	r = k.req("ms.PublishEvent", text(conv, "hello"))
	assert.Equal(t, "ms.PublishEventResponse", r.Type)
	require.NoError(t, r.Decode(&pub))
	assert.Equal(t, 0, pub.Sequence)
	seq, err := agent.SendText(conv, "hi, Ann here")
	require.NoError(t, err)
	assert.Equal(t, 1, seq)
	k.wait("both texts", func() bool { return len(k.texts()) == 2 })
	assert.Equal(t, []string{"hello", "hi, Ann here"}, k.texts())
	chs := k.changes("MessagingEventNotification")
	assert.Equal(t, consumerID, chs[0]["originatorId"])
	assert.Equal(t, map[string]any{"id": consumerID, "role": "CONSUMER"}, chs[0]["originatorMetadata"])
	assert.Equal(t, "ASSIGNED_AGENT", chs[1]["originatorMetadata"].(map[string]any)["role"])
	assert.NotZero(t, chs[1]["serverTimestamp"])

	// Chat states have no sequence; receipts do.
	k.req("ms.PublishEvent", map[string]any{"dialogId": conv, "event": map[string]any{"type": "ChatStateEvent", "chatState": "COMPOSING"}})
	require.NoError(t, agent.SetChatState(conv, "COMPOSING"))
	r = k.req("ms.PublishEvent", map[string]any{"dialogId": conv, "event": map[string]any{"type": "AcceptStatusEvent", "status": "READ", "sequenceList": []int{1}}})
	require.NoError(t, r.Decode(&pub))
	assert.Equal(t, 2, pub.Sequence)
	k.wait("chat states", func() bool { return len(k.changes("MessagingEventNotification")) == 5 })
	for _, c := range k.changes("MessagingEventNotification") {
		if c["event"].(map[string]any)["type"] == "ChatStateEvent" {
			assert.NotContains(t, c, "sequence")
			assert.NotContains(t, c, "serverTimestamp")
		}
	}

	// Updates: TTR, then close, then CSAT.
	k.req("cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": []any{map[string]any{"field": "TTRField", "ttrType": "URGENT", "value": 300}}})
	k.wait("ttr", func() bool {
		ttr, _ := k.lastConversation(conv)["ttr"].(map[string]any)
		return ttr["ttrType"] == "URGENT"
	})
	r = k.req("cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": map[string]any{"field": "ConversationStateField", "conversationState": "CLOSE"}}) // bare object form
	assert.Equal(t, "OK Conversation resolved successfully", r.Text())
	k.wait("closed", func() bool { return k.lastConversation(conv)["stage"] == "CLOSE" })
	d = k.lastConversation(conv)
	assert.Equal(t, "CLOSE", d["state"])
	assert.Equal(t, "CONSUMER", d["closeReason"])
	main := d["dialogs"].([]any)[0].(map[string]any)
	assert.Equal(t, "CLOSE", main["state"])
	assert.Equal(t, "CONSUMER", main["closedBy"])
	assert.ErrorIs(t, k.reqErr("ms.PublishEvent", text(conv, "too late")), lpwindow.ErrBadRequest)

	k.req("cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": map[string]any{"field": "CSATRate", "csatRate": 5, "csatResolutionConfirmation": true, "status": "FILLED"}})
	k.wait("csat", func() bool { return k.lastConversation(conv)["csat"] != nil })
	assert.Equal(t, float64(5), k.lastConversation(conv)["csat"].(map[string]any)["csatRate"])
	assert.ErrorIs(t, k.reqErr("cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": map[string]any{"field": "CSATRate", "csatRate": 6, "csatResolutionConfirmation": true, "status": "FILLED"}}), lpwindow.ErrBadRequest)

	// A new conversation can be opened once the last one is closed.
	assert.NotEqual(t, conv, k.open())
	k.req("cqm.UnsubscribeExConversations", map[string]any{"subscriptionId": sub.SubscriptionID})
	assert.ErrorIs(t, k.reqErr("cqm.UnsubscribeExConversations", map[string]any{"subscriptionId": sub.SubscriptionID}), lpwindow.ErrBadRequest)
}

func TestTwoSocketsShareConversationsAndReplay(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	jwtText, _, err := s.IssueToken()
	require.NoError(t, err)
	a := connectWith(t, s, jwtText, lpwindow.AuthHeaders)
	b := connectWith(t, s, jwtText, lpwindow.AuthInitConnection)
	conv := a.open()
	agent := s.NewAgent("Bo")
	require.NoError(t, agent.Join(conv))
	for i := range 5 {
		a.req("ms.PublishEvent", text(conv, "m"+string(rune('0'+i))))
	}
	_, err = agent.SendText(conv, "reply")
	require.NoError(t, err)
	b.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv, "conversationId": conv, "fromSeq": 3})
	b.wait("replay", func() bool { return len(b.texts()) == 3 })
	assert.Equal(t, []string{"m3", "m4", "reply"}, b.texts())
	// Live events reach both sockets' subscriptions.
	a.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv})
	b.req("ms.PublishEvent", text(conv, "from b"))
	a.wait("live", func() bool { t := a.texts(); return len(t) > 0 && t[len(t)-1] == "from b" })
	b.wait("echo", func() bool { t := b.texts(); return t[len(t)-1] == "from b" })

	// Another consumer cannot touch it.
	c, _ := connect(t, s, lpwindow.AuthHeaders)
	assert.ErrorIs(t, c.reqErr("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv}), lpwindow.ErrBadRequest)
	assert.ErrorIs(t, c.reqErr("ms.PublishEvent", text(conv, "intrusion")), lpwindow.ErrBadRequest)
}

func TestInvalidRequests(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	conv := k.open()
	bad := []struct {
		typ  string
		body string
	}{
		{"no.SuchRequest", `{}`},
		{"ms.PublishEvent", `{"dialogId":"` + conv + `","event":{"type":"ContentEvent","contentType":"text/plain","message":""}}`},
		{"ms.PublishEvent", `{"dialogId":"` + conv + `","event":{"type":"Bogus"}}`},
		{"ms.PublishEvent", `{"dialogId":"` + conv + `","event":{"type":"AcceptStatusEvent","status":"SEEN","sequenceList":[1]}}`},
		{"ms.PublishEvent", `{"dialogId":"` + conv + `","event":{"type":"ChatStateEvent","chatState":"SLEEPING"}}`},
		{"ms.PublishEvent", `{"dialogId":"` + conv + `","event":{"type":"ContentEvent","contentType":"hosted/file","message":{"caption":"x"}}}`},
		{"ms.PublishEvent", `{"dialogId":"nope","event":{"type":"ChatStateEvent","chatState":"ACTIVE"}}`},
		{"ms.PublishEvent", `{"dialogId":"` + conv + `","conversationId":"other","event":{"type":"ChatStateEvent","chatState":"ACTIVE"}}`},
		{"cm.UpdateConversationField", `{"conversationId":"` + conv + `","conversationField":{"field":"Skill","type":"UPDATE"}}`},
		{"cm.UpdateConversationField", `{"conversationId":"` + conv + `","conversationField":{"field":"TTRField","ttrType":"SOON","value":1}}`},
		{"cm.UpdateConversationField", `{"conversationId":"` + conv + `","conversationField":{"field":"DialogChange","type":"UPDATE","dialog":{"dialogId":"zzz","state":"CLOSE"}}}`},
		{"cm.UpdateConversationField", `{"conversationId":"nope","conversationField":{"field":"Stage","conversationState":"CLOSE"}}`},
		{"cqm.SubscribeExConversations", `{"convState":["MAYBE"]}`},
		{"ms.SubscribeMessagingEvents", `{"dialogId":"` + conv + `","fromSeq":-1}`},
		{"ms.GenerateURLForUploadFile", `{"fileSize":"100","fileType":"BMP"}`},
		{"ms.GenerateURLForUploadFile", `{"fileSize":3145729,"fileType":"PNG"}`},
		{"ms.GenerateURLForDownloadFile", `{"relativePath":"/etc/passwd"}`},
		{"cm.ConsumerRequestConversation", `{"ttrDefName":"WHENEVER"}`},
		{"InitConnection", ``},
	}
	for _, b := range bad {
		var body any
		if b.body != "" {
			body = json.RawMessage(b.body)
		}
		err := k.reqErr(b.typ, body)
		var apiErr *lpwindow.APIError
		if assert.ErrorAs(t, err, &apiErr, "%s %s", b.typ, b.body) {
			assert.True(t, apiErr.Code >= 400 && apiErr.Code < 500, "%s: %d", b.typ, apiErr.Code)
			assert.NotEmpty(t, apiErr.Body, "errors carry a message")
		}
	}
	// After all that the socket and conversation are fine.
	k.req("ms.PublishEvent", text(conv, "still here"))
}

func TestDialogCloseAndStage(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	s.EnableSurvey(lpwindowtest.SurveyQuestion{ID: "q1", Text: "Rate us", Answers: []string{"1", "5"}})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	k.req("cqm.SubscribeExConversations", map[string]any{"convState": []string{"OPEN", "CLOSE"}})
	conv := k.open()
	require.NoError(t, s.NewAgent("A").Join(conv))
	// Closing everything with Stage skips the survey.
	k.req("cm.UpdateConversationField", map[string]any{"conversationId": conv,
		"conversationField": []any{map[string]any{"field": "Stage", "conversationState": "CLOSE"}}})
	k.wait("stage closed", func() bool { return k.lastConversation(conv)["stage"] == "CLOSE" })
	c, _ := s.Conversation(conv)
	assert.Len(t, c.Dialogs, 1, "no survey after Stage CLOSE")
	assert.Equal(t, "CLOSE", c.State)
}

func TestPostConversationSurvey(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	s.EnableSurvey(
		lpwindowtest.SurveyQuestion{ID: "q1", Text: "How did we do?", Answers: []string{"1", "2", "3", "4", "5"}},
		lpwindowtest.SurveyQuestion{ID: "q2", Text: "Was it resolved?", Answers: []string{"Yes", "No"}},
	)
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	k.req("cqm.SubscribeExConversations", map[string]any{"convState": []string{"OPEN", "CLOSE"}, "stage": []string{"OPEN", "CLOSE"}})
	conv := k.open()
	agent := s.NewAgent("A")
	require.NoError(t, agent.Join(conv))
	require.NoError(t, agent.Close(conv))
	var survey string
	k.wait("survey dialog", func() bool {
		d := k.lastConversation(conv)
		for _, dl := range dialogsOf(d) {
			m := dl.(map[string]any)
			if m["dialogType"] == "POST_SURVEY" && m["state"] == "OPEN" {
				survey = m["dialogId"].(string)
			}
		}
		return survey != "" && d["state"] == "CLOSE" && d["stage"] == "OPEN"
	})
	k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": survey, "conversationId": conv, "fromSeq": 0})
	answer := func(q string, reply string) {
		var question map[string]any
		k.wait(q, func() bool {
			for _, c := range k.changes("MessagingEventNotification") {
				ev := c["event"].(map[string]any)
				if c["dialogId"] == survey && ev["message"] == q {
					question = c
					return true
				}
			}
			return false
		})
		ev := question["event"].(map[string]any)
		var md json.RawMessage
		for _, b := range ev["quickReplies"].(map[string]any)["replies"].([]any) {
			if b.(map[string]any)["title"] == reply {
				md, _ = json.Marshal(b.(map[string]any)["click"].(map[string]any)["metadata"])
			}
		}
		require.NotNil(t, md)
		seq := int(question["sequence"].(float64))
		// The documented answer: an ACTION receipt and the text, both with
		// the button's metadata (reference §10).
		_, err := k.c.Request(ctxT(t), "ms.PublishEvent", json.RawMessage(`{"dialogId":"`+survey+`","conversationId":"`+conv+`","event":{"type":"AcceptStatusEvent","status":"ACTION","sequenceList":[`+itoa(seq)+`]}}`))
		require.NoError(t, err)
		k.req("ms.PublishEvent", map[string]any{"dialogId": survey, "conversationId": conv, "event": map[string]any{"type": "ContentEvent", "contentType": "text/plain", "message": reply}})
	}
	answer("How did we do?", "5")
	answer("Was it resolved?", "Yes")
	k.wait("survey closed", func() bool { return k.lastConversation(conv)["stage"] == "CLOSE" })
	c, _ := s.Conversation(conv)
	require.Len(t, c.Dialogs, 2)
	assert.Equal(t, "AGENT", c.Dialogs[1].ClosedBy)
	assert.Equal(t, "Completed", c.Dialogs[1].ClosedCause)
	answers := s.SurveyAnswers(conv)
	require.Len(t, answers, 2)
	assert.Equal(t, "5", answers[0].Text)
	assert.Equal(t, "q2", answers[1].QuestionID)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAgentActionsAndInvitations(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	k.req("cqm.SubscribeExConversations", map[string]any{})
	conv := k.open()
	k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv})
	a := s.NewAgent("Ann")
	require.NoError(t, a.Join(conv))
	_, err := a.SendQuickReplies(conv, "Pick one", []lpwindowtest.QuickReply{{Title: "A"}, {Title: "B"}})
	require.NoError(t, err)
	_, err = a.SendRichContent(conv, json.RawMessage(`{"type":"vertical","elements":[{"type":"text","text":"hi"}]}`))
	require.NoError(t, err)
	_, path, err := a.SendFile(conv, "png", []byte("\x89PNG fake"), "a picture")
	require.NoError(t, err)
	_, err = a.Accept(conv, 0)
	require.NoError(t, err)
	k.wait("agent events", func() bool { return len(k.changes("MessagingEventNotification")) == 4 })
	evs := k.changes("MessagingEventNotification")
	assert.Equal(t, "quickReplies", evs[0]["event"].(map[string]any)["quickReplies"].(map[string]any)["type"])
	assert.Equal(t, "RichContentEvent", evs[1]["event"].(map[string]any)["type"])
	assert.Equal(t, path, evs[2]["event"].(map[string]any)["message"].(map[string]any)["relativePath"])

	// Transfer: the agent leaves, the skill changes; another agent joins.
	require.NoError(t, a.Transfer(conv, "skill-77"))
	k.wait("transfer", func() bool { return k.lastConversation(conv)["skillId"] == "skill-77" })
	for _, p := range k.lastConversation(conv)["participants"].([]any) {
		assert.NotEqual(t, "ASSIGNED_AGENT", p.(map[string]any)["role"])
	}
	b := s.NewAgent("Bo")
	require.NoError(t, b.Join(conv))

	// CoBrowse and call invitations are dialogs of type OTHER.
	cb, err := b.InviteCoBrowse(conv, "shared")
	require.NoError(t, err)
	call, err := b.InviteCall(conv, "VIDEO_CALL")
	require.NoError(t, err)
	k.wait("invitations", func() bool { return len(dialogsOf(k.lastConversation(conv))) == 3 })
	for _, dl := range dialogsOf(k.lastConversation(conv))[1:] {
		m := dl.(map[string]any)
		assert.Equal(t, "OTHER", m["dialogType"])
		assert.Equal(t, "COBROWSE", m["channelType"])
		assert.Equal(t, "INVITED", m["metaData"].(map[string]any)["sessionState"])
		assert.IsType(t, []any{}, m["participants"], "CoBrowse dialogs list plain participant ids")
	}
	require.NoError(t, s.SetInvitationState(conv, cb, "ACCEPTED"))
	require.NoError(t, s.SetInvitationState(conv, call, "CLOSED"))
	k.wait("call closed", func() bool {
		for _, dl := range dialogsOf(k.lastConversation(conv)) {
			m := dl.(map[string]any)
			if m["dialogId"] == call {
				return m["state"] == "CLOSE" && m["metaData"].(map[string]any)["sessionState"] == "CLOSED"
			}
		}
		return false
	})
	_, err = b.InviteCoBrowse(conv, "sideways")
	assert.Error(t, err)

	// Agent profile on the acCdnDomain endpoint.
	code, body := get(t, s, "/api/account/"+s.Account()+"/configuration/le-users/users/"+b.ID())
	assert.Equal(t, 200, code)
	assert.Contains(t, body, `"nickname":"Bo"`)
	code, _ = get(t, s, "/api/account/"+s.Account()+"/configuration/le-users/users/nobody")
	assert.Equal(t, 404, code)

	require.NoError(t, b.Close(conv))
	k.wait("agent closed", func() bool { return k.lastConversation(conv)["closeReason"] == "AGENT" })
}

func TestBot(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{Bot: true})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	conv := k.open()
	k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv})
	k.wait("greeting", func() bool { return len(k.texts()) == 1 })
	assert.Equal(t, lpwindowtest.BotGreeting, k.texts()[0])
	k.req("ms.PublishEvent", text(conv, "ping"))
	k.wait("echo", func() bool { t := k.texts(); return t[len(t)-1] == "You said: ping" })
	statuses := map[string]bool{}
	for _, c := range k.changes("MessagingEventNotification") {
		ev := c["event"].(map[string]any)
		if ev["type"] == "AcceptStatusEvent" {
			statuses[ev["status"].(string)] = true
		}
		if ev["type"] == "ChatStateEvent" {
			statuses[ev["chatState"].(string)] = true
		}
	}
	assert.Equal(t, map[string]bool{"ACCEPT": true, "READ": true, "COMPOSING": true, "ACTIVE": true}, statuses)
	k.req("ms.PublishEvent", text(conv, "bye"))
	_, err := s.WaitConversation(ctxT(t), "", func(c lpwindowtest.Conversation) bool { return c.ID == conv && c.Stage == "CLOSE" })
	require.NoError(t, err)
}

func TestFilesUploadAndDownload(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{TLS: true, URLLifetime: 2 * time.Second})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	assert.True(t, strings.HasPrefix(s.URL(), "https://"))
	var u struct {
		RelativePath string
		QueryParams  struct {
			Sig string `json:"temp_url_sig"`
			Exp string `json:"temp_url_expires"`
		}
	}
	r := k.req("ms.GenerateURLForUploadFile", map[string]any{"fileSize": 4, "fileType": "PNG"}) // numeric size, as in the docs
	assert.Equal(t, "ms.GenerateURLResponse", r.Type)
	require.NoError(t, r.Decode(&u))
	assert.True(t, strings.HasPrefix(u.RelativePath, "/v1/AUTH_async-images/"+s.Account()+"/"))
	put := func(path, sig, exp string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPut, s.URL()+path+"?temp_url_sig="+sig+"&temp_url_expires="+exp, bytes.NewReader(body))
		resp, err := s.HTTPClient().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 401, put(u.RelativePath, tamper(u.QueryParams.Sig), u.QueryParams.Exp, []byte("data")), "bad signature")
	assert.Equal(t, 201, put(u.RelativePath, u.QueryParams.Sig, u.QueryParams.Exp, []byte("data")))
	stored, ok := s.File(u.RelativePath)
	require.True(t, ok)
	assert.Equal(t, "data", string(stored))

	r = k.req("ms.GenerateURLForDownloadFile", map[string]any{"relativePath": u.RelativePath})
	require.NoError(t, r.Decode(&u))
	code, body := get(t, s, u.RelativePath+"?temp_url_sig="+u.QueryParams.Sig+"&temp_url_expires="+u.QueryParams.Exp)
	assert.Equal(t, 200, code)
	assert.Equal(t, "data", body)
	code, _ = get(t, s, u.RelativePath+"?temp_url_sig="+u.QueryParams.Sig+"&temp_url_expires=1")
	assert.Equal(t, 401, code, "a tampered expiry breaks the signature")

	// The 3 MB limit and expiry.
	r = k.req("ms.GenerateURLForUploadFile", map[string]any{"fileSize": "3145728", "fileType": "JPG"})
	require.NoError(t, r.Decode(&u))
	assert.Equal(t, 413, put(u.RelativePath, u.QueryParams.Sig, u.QueryParams.Exp, make([]byte, lpwindowtest.MaxFileSize+1)))
	time.Sleep(3 * time.Second)
	assert.Equal(t, 401, put(u.RelativePath, u.QueryParams.Sig, u.QueryParams.Exp, []byte("late")), "expired URL")
	assert.ErrorIs(t, k.reqErr("ms.GenerateURLForDownloadFile", map[string]any{"relativePath": "/v1/AUTH_async-images/" + s.Account() + "/missing.PNG"}), lpwindow.ErrNotFound)
}

func TestInitConnectionRules(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{AuthTimeout: 300 * time.Millisecond})
	url := "ws://" + s.Host() + "/ws_api/account/" + s.Account() + "/messaging/consumer?v=3"
	ctx := ctxT(t)
	ws, _, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(`{"kind":"req","id":"1","type":"GetClock"}`)))
	_, b, err := ws.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"code":401`, "requests before InitConnection are rejected")
	// Nothing more: the server closes the unauthenticated socket.
	_, _, err = ws.Read(ctx)
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))

	// Wrong version and account.
	_, resp, err := websocket.Dial(ctx, strings.Replace(url, "v=3", "v=2", 1), nil)
	require.Error(t, err)
	assert.Equal(t, 400, resp.StatusCode)
	_, resp, err = websocket.Dial(ctx, strings.Replace(url, s.Account(), "999", 1), nil)
	require.Error(t, err)
	assert.Equal(t, 401, resp.StatusCode)
}

// dialogsOf returns a conversationDetails' dialogs, nil before the first
// UPSERT arrived.
func dialogsOf(d map[string]any) []any {
	ds, _ := d["dialogs"].([]any)
	return ds
}

func TestDeleteConversation(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	k.req("cqm.SubscribeExConversations", map[string]any{"convState": []string{"OPEN", "CLOSE"}})
	conv := k.open()
	k.wait("upsert", func() bool { return k.lastConversation(conv) != nil })
	require.NoError(t, s.DeleteConversation(conv))
	k.wait("delete", func() bool {
		for _, c := range k.changes("ExConversationChangeNotification") {
			if c["type"] == "DELETE" && c["result"].(map[string]any)["convId"] == conv {
				return true
			}
		}
		return false
	})
	_, found := s.Conversation(conv)
	assert.False(t, found)
	assert.ErrorIs(t, k.reqErr("ms.PublishEvent", text(conv, "gone")), lpwindow.ErrBadRequest)
	assert.Error(t, s.DeleteConversation(conv))
	k.open() // the consumer can start over
}

// tamper changes the first hex digit of a signature.
func tamper(sig string) string {
	first := "0"
	if sig[0] == '0' {
		first = "1"
	}
	return first + sig[1:]
}
