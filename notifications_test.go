package lpwindow_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/internal/wire"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func exampleNotification(t *testing.T, name string) *lpwindow.Notification {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "shared", "protocol", "examples", name))
	if os.IsNotExist(err) {
		t.Skip("../shared/protocol/examples not present")
	}
	require.NoError(t, err)
	f, err := wire.Decode(b)
	require.NoError(t, err)
	return &lpwindow.Notification{Type: f.Type, Body: f.Body}
}

func TestDecodeDocumentedNotifications(t *testing.T) {
	evs, err := lpwindow.DecodeMessagingEvents(exampleNotification(t, "notif_MessagingEventNotification_agentText__read-and-accept-events.json"))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	e := evs[0]
	assert.Equal(t, 3, e.Sequence)
	assert.Equal(t, "3d834d4d-8f0b-5708-9e17-115ae1da4ad1", e.OriginatorID)
	assert.Equal(t, time.UnixMilli(1487455441507), e.ServerTime)
	assert.Equal(t, "940f401e-dc4c-49a9-bff2-2bbb5bd0df64", e.DialogID)
	assert.Equal(t, lpwindow.EventContent, e.Event.Type)
	assert.Equal(t, "some agent text", e.Event.Text)

	evs, err = lpwindow.DecodeMessagingEvents(exampleNotification(t, "notif_MessagingEventNotification_ChatState_ACTIVE__post-conversation-survey-pcs.json"))
	require.NoError(t, err)
	assert.Equal(t, -1, evs[0].Sequence, "chat states have no sequence")
	assert.True(t, evs[0].ServerTime.IsZero())
	assert.Equal(t, lpwindow.ChatActive, evs[0].Event.ChatState)
	assert.Equal(t, lpwindow.RoleAssignedAgent, evs[0].OriginatorRole)

	evs, err = lpwindow.DecodeMessagingEvents(exampleNotification(t, "notif_MessagingEventNotification_AcceptStatus_READ__post-conversation-survey-pcs.json"))
	require.NoError(t, err)
	assert.Equal(t, lpwindow.StatusRead, evs[0].Event.Status)
	assert.NotEmpty(t, evs[0].Event.Sequences)

	evs, err = lpwindow.DecodeMessagingEvents(exampleNotification(t, "notif_MessagingEventNotification_ACTION_withMetadata__post-conversation-survey-pcs.json"))
	require.NoError(t, err)
	assert.Equal(t, lpwindow.StatusAction, evs[0].Event.Status)
	require.NotEmpty(t, evs[0].Metadata, "change metadata (the answer) is kept")

	sub, changes, err := lpwindow.DecodeConversationChanges(exampleNotification(t, "notif_ExConversationChangeNotification_mainClosed_postSurveyOpen__post-conversation-survey-pcs.json"))
	require.NoError(t, err)
	assert.Equal(t, "1e25cbe8-de08-4bb2-a100-f72a172a6e04", sub)
	require.Len(t, changes, 1)
	c := changes[0].Conversation
	assert.Equal(t, "UPSERT", changes[0].Type)
	assert.Equal(t, lpwindow.ConversationClose, c.State)
	assert.Equal(t, lpwindow.ConversationOpen, c.Stage)
	assert.Equal(t, "CONSUMER", c.CloseReason)
	assert.Equal(t, &lpwindow.TTR{Type: lpwindow.TTRPrioritized, Value: 600 * time.Second}, c.TTR)
	assert.Equal(t, int64(-1), c.EffectiveTTR)
	assert.Equal(t, "64467156", c.BrandID)
	assert.Len(t, c.Participants, 5)
	require.Len(t, c.Dialogs, 2)
	assert.Equal(t, lpwindow.DialogMain, c.Dialogs[0].Type)
	assert.Equal(t, "CONSUMER", c.Dialogs[0].ClosedBy)
	assert.Equal(t, lpwindow.DialogPostSurvey, c.Dialogs[1].Type)
	assert.Equal(t, lpwindow.ConversationOpen, c.Dialogs[1].State)
	assert.JSONEq(t, `{"appInstallId":"756e7363-4472-4ae1-b1ae-b3b0b52107a0"}`, string(c.Dialogs[1].MetaData))
	assert.Equal(t, time.UnixMilli(1538499227108), c.LastUpdateTime)

	_, changes, err = lpwindow.DecodeConversationChanges(exampleNotification(t, "notif_ExConversationChangeNotification_empty__post-conversation-survey-pcs.json"))
	require.NoError(t, err)
	assert.Empty(t, changes)
}

func TestDecodeEveryDocumentedNotification(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "shared", "protocol", "examples", "notif_*.json"))
	if len(paths) == 0 {
		t.Skip("../shared/protocol/examples not present")
	}
	for _, p := range paths {
		n := exampleNotification(t, filepath.Base(p))
		var err error
		if strings.HasSuffix(n.Type, "MessagingEventNotification") {
			var evs []lpwindow.MessagingEvent
			evs, err = lpwindow.DecodeMessagingEvents(n)
			assert.NotEmpty(t, evs, p)
		} else {
			_, _, err = lpwindow.DecodeConversationChanges(n)
		}
		assert.NoError(t, err, p)
	}
}

func TestDecodeDocumentedDialogs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "shared", "protocol", "examples", "other_dialog_COBROWSE_invited__cobrowse.json"))
	if os.IsNotExist(err) {
		t.Skip("../shared/protocol/examples not present")
	}
	require.NoError(t, err)
	body := `{"changes":[{"type":"UPSERT","result":{"convId":"c","conversationDetails":{"dialogs":[` + string(b) + `]}}}]}`
	_, changes, err := lpwindow.DecodeConversationChanges(&lpwindow.Notification{Type: lpwindow.TypeConversationNotification, Body: json.RawMessage(body)})
	require.NoError(t, err)
	d := changes[0].Conversation.Dialogs[0]
	assert.Equal(t, lpwindow.DialogOther, d.Type)
	assert.Equal(t, "COBROWSE", d.ChannelType)
	assert.Equal(t, []lpwindow.Participant{{ID: "cc05f2b9-916b-496e-89fe-66a46d975ae2"}, {ID: "le83624296.356285412"}}, d.Participants)
	require.NotNil(t, d.Invitation)
	assert.Equal(t, "shared", d.Invitation.Mode)
	assert.Equal(t, "INVITED", d.Invitation.SessionState)
	assert.Equal(t, time.UnixMilli(1502893131855), d.Invitation.Expires)
	assert.False(t, d.Invitation.IsCall())
}

func TestDecodeVariants(t *testing.T) {
	n := func(body string) *lpwindow.Notification {
		return &lpwindow.Notification{Type: lpwindow.TypeMessagingEventNotification, Body: json.RawMessage(body)}
	}
	// A bare change object, numeric ids, a string sequence, originatorPId,
	// rich content as a JSON string, the old RichContent name, a bare
	// sequenceList, unknown fields and enums.
	evs, err := lpwindow.DecodeMessagingEvents(n(`{"changes":{"sequence":"7","originatorPId":12,"dialogId":34,"serverTimestamp":"1500000000000",
		"event":{"type":"RichContent","content":"{\"type\":\"vertical\",\"elements\":[]}"},"brandNew":true}}`))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, 7, evs[0].Sequence)
	assert.Equal(t, "12", evs[0].OriginatorID)
	assert.Equal(t, "34", evs[0].DialogID)
	assert.Equal(t, lpwindow.EventRichContent, evs[0].Event.Type)
	assert.JSONEq(t, `{"type":"vertical","elements":[]}`, string(evs[0].Event.Content))
	assert.Contains(t, string(evs[0].Raw), "brandNew", "unknown fields stay reachable")

	evs, err = lpwindow.DecodeMessagingEvents(n(`{"changes":[
		{"sequence":1,"dialogId":"d","event":{"type":"AcceptStatusEvent","status":"SEEN_IT","sequenceList":5}},
		{"sequence":2,"dialogId":"d","event":{"type":"HoloEvent","hologram":{}}},
		{"sequence":3,"dialogId":"d","event":{"type":"ContentEvent","contentType":"hosted/file","message":{"relativePath":"/p.png","fileType":"PNG","caption":"c"}}},
		{"sequence":4,"dialogId":"d","event":{"type":"ContentEvent","contentType":"forms/secure-invitation","message":{"invitationId":99,"title":"Pay"}}},
		{"sequence":5,"dialogId":"d","metadata":null,"event":{"type":"ContentEvent","contentType":"text/plain","message":"q?",
			"quickReplies":{"type":"quickReplies","itemsPerRow":"8","replies":{"type":"button","title":"Yes","click":{"metadata":{"type":"Answer","id":"a"},"actions":{"type":"publishText","text":"Yes"}}}}}}]}`))
	require.NoError(t, err)
	require.Len(t, evs, 5)
	assert.Equal(t, lpwindow.AcceptStatus("SEEN_IT"), evs[0].Event.Status, "unknown enums pass through")
	assert.Equal(t, []int{5}, evs[0].Event.Sequences)
	assert.Equal(t, lpwindow.EventType("HoloEvent"), evs[1].Event.Type)
	assert.Contains(t, string(evs[1].Event.Raw), "hologram")
	assert.Equal(t, &lpwindow.HostedFile{Caption: "c", RelativePath: "/p.png", FileType: "PNG"}, evs[2].Event.File)
	assert.Equal(t, &lpwindow.SecureForm{InvitationID: "99", Title: "Pay"}, evs[3].Event.Form)
	qr := evs[4].Event.QuickReplies
	require.NotNil(t, qr)
	assert.Equal(t, 8, qr.ItemsPerRow)
	require.Len(t, qr.Replies, 1)
	assert.Equal(t, "Yes", qr.Replies[0].Title)
	assert.Equal(t, "publishText", qr.Replies[0].Actions[0].Type)
	assert.JSONEq(t, `{"type":"Answer","id":"a"}`, string(qr.Replies[0].Metadata[0]))
	assert.Nil(t, evs[4].Metadata)

	// Old participant shape.
	_, changes, err := lpwindow.DecodeConversationChanges(&lpwindow.Notification{Type: "aam.ExConversationChangeNotification", Body: json.RawMessage(
		`{"subscriptionId":5,"changes":{"type":"UPSERT","result":{"convId":"c","conversationDetails":{"participantsPId":{"CONSUMER":["me"],"ASSIGNED_AGENT":"ag"},"state":"OPEN","startTs":"1500000000000","csat":{"csatRate":"4","status":"FILLED"},"delay":{"type":"NIGHT","tillWhen":1500000000000}}}}}`)})
	require.NoError(t, err)
	c := changes[0].Conversation
	assert.ElementsMatch(t, []lpwindow.Participant{{ID: "me", Role: lpwindow.RoleConsumer}, {ID: "ag", Role: lpwindow.RoleAssignedAgent}}, c.Participants)
	assert.Equal(t, time.UnixMilli(1500000000000), c.StartTime)
	assert.Equal(t, 4, c.CSAT.Rate)
	assert.Equal(t, "NIGHT", c.Delay.Type)
	assert.Equal(t, lpwindow.ConversationState(""), c.Stage, "pre-PCS servers send no stage")

	for _, bad := range []string{``, `[]`, `"x"`, `{"changes":[1]}`, `{"changes":{"event":"x"}}`} {
		_, err := lpwindow.DecodeMessagingEvents(n(bad))
		assert.ErrorIs(t, err, lpwindow.ErrMalformedNotification, bad)
	}
}

func TestDecodeWhatTheFakeSends(t *testing.T) {
	s, c, me := fake(t, lpwindowtest.Options{})
	ctx := tctx(t)
	got := make(chan *lpwindow.Notification, 64)
	_, err := c.Subscribe("", func(n *lpwindow.Notification) { got <- n })
	require.NoError(t, err)
	_, err = c.SubscribeConversations(ctx, lpwindow.ConversationsFilter{})
	require.NoError(t, err)
	conv, err := c.RequestConversation(ctx, lpwindow.ConversationRequest{})
	require.NoError(t, err)
	require.NoError(t, c.SubscribeMessagingEvents(ctx, conv, "", 0))
	a := s.NewAgent("A")
	require.NoError(t, a.Join(conv))
	md := json.RawMessage(`[{"type":"Answer","id":"x"}]`)
	_, err = a.SendQuickReplies(conv, "Pick", []lpwindowtest.QuickReply{{Title: "A", Metadata: md}})
	require.NoError(t, err)
	_, err = a.InviteCall(conv, "VIDEO_CALL")
	require.NoError(t, err)
	_, err = c.Publish(ctx, lpwindow.Publication{DialogID: conv, Event: lpwindow.Text{Message: "mine"}})
	require.NoError(t, err)

	var sawQuick, sawCall, sawEcho bool
	deadline := time.After(5 * time.Second)
	for !(sawQuick && sawCall && sawEcho) {
		select {
		case n := <-got:
			if strings.HasSuffix(n.Type, "MessagingEventNotification") {
				evs, err := lpwindow.DecodeMessagingEvents(n)
				require.NoError(t, err)
				for _, e := range evs {
					if e.Event.QuickReplies != nil {
						sawQuick = true
						assert.Equal(t, "A", e.Event.QuickReplies.Replies[0].Title)
						assert.JSONEq(t, `{"type":"Answer","id":"x"}`, string(e.Event.QuickReplies.Replies[0].Metadata[0]))
					}
					if e.Event.Text == "mine" {
						sawEcho = true
						assert.Equal(t, me, e.OriginatorID)
						assert.Equal(t, lpwindow.RoleConsumer, e.OriginatorRole)
					}
				}
				continue
			}
			_, changes, err := lpwindow.DecodeConversationChanges(n)
			require.NoError(t, err)
			for _, ch := range changes {
				for _, d := range ch.Conversation.Dialogs {
					if d.Invitation != nil && d.Invitation.IsCall() {
						sawCall = true
						assert.Equal(t, "INVITED", d.Invitation.SessionState)
						assert.WithinDuration(t, time.Now().Add(2*time.Minute), d.Invitation.Expires, 10*time.Second)
					}
				}
			}
		case <-deadline:
			t.Fatalf("quick replies %v, call %v, echo %v", sawQuick, sawCall, sawEcho)
		}
	}
}

func FuzzDecodeNotifications(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "shared", "protocol", "examples", "notif_*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			if fr, err := wire.Decode(b); err == nil {
				f.Add(string(fr.Body))
			}
		}
	}
	f.Add(`{"changes":{"sequence":"1","event":{"type":"RichContentEvent","content":"{}"}}}`)
	f.Fuzz(func(t *testing.T, body string) {
		n := &lpwindow.Notification{Body: json.RawMessage(body)}
		_, _ = lpwindow.DecodeMessagingEvents(n)
		_, _, _ = lpwindow.DecodeConversationChanges(n)
	})
}
