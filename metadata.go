package lpwindow

import (
	"github.com/lpwindow/lpwindow/internal/wire"

	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// Conversation metadata: cqm.ExConversationChangeNotification decoded
// leniently (reference §9.2, §22), with the helpers of notifications.go.

// ConversationChange is one change of a cqm.ExConversationChangeNotification.
type ConversationChange struct {
	Type         string // UPSERT or DELETE
	Conversation ConversationInfo
	Raw          json.RawMessage
}

// ConversationInfo is a conversation's metadata (reference §9.2).
type ConversationInfo struct {
	ID             string
	LastUpdateTime time.Time // lastUpdateTime, else metaDataLastUpdateTs
	EffectiveTTR   int64     // -1 in every sample
	Participants   []Participant
	Dialogs        []Dialog
	State          ConversationState // the MAIN dialog's
	Stage          ConversationState // the whole conversation's; "" from pre-PCS servers
	CloseReason    string            // CONSUMER, AGENT, SYSTEM…
	StartTime      time.Time
	EndTime        time.Time // zero while open
	TTR            *TTR
	Delay          *Delay
	ManualETTR     time.Time // zero when not set
	CSAT           *CSAT
	SkillID        string
	BrandID        string
	Raw            json.RawMessage // the change's result member
}

// TTR is a conversation's urgency.
type TTR struct {
	Type  TTRType
	Value time.Duration
}

// Delay says the contact center is closed until Until.
type Delay struct {
	Type  string // NIGHT, WEEKEND, HOLIDAY
	Until time.Time
}

// CSAT is a legacy satisfaction rating.
type CSAT struct {
	Rate                   int
	ResolutionConfirmation bool
	Status                 CSATStatus
}

// DialogType is a dialog's kind.
type DialogType string

// The dialog types.
const (
	DialogMain       DialogType = "MAIN"
	DialogPostSurvey DialogType = "POST_SURVEY"
	DialogOther      DialogType = "OTHER"
)

// Dialog is one dialog of a conversation.
type Dialog struct {
	ID             string
	Type           DialogType
	ChannelType    string // MESSAGING, COBROWSE
	State          ConversationState
	Participants   []Participant
	MetaData       json.RawMessage // raw metaData ({appInstallId} for surveys, the invitation for CoBrowse)
	Invitation     *Invitation     // CoBrowse and call invitations
	CreationTime   time.Time
	EndTime        time.Time
	LastUpdateTime time.Time
	ClosedBy       string
	ClosedCause    string
}

// Invitation is a CoBrowse or voice/video call invitation (reference §17).
// Accepting it happens in the web page, through LivePerson's lpTag.
type Invitation struct {
	ServiceID    string    // passed to the CoBrowse JS API
	Mode         string    // shared, view, follow; VOICE_CALL, VIDEO_CALL
	SessionState string    // INVITED, ACCEPTED, CLOSED
	Expires      time.Time // when an unanswered invitation closes
}

// IsCall reports whether the invitation is a voice or video call.
func (i *Invitation) IsCall() bool { return i.Mode == "VOICE_CALL" || i.Mode == "VIDEO_CALL" }

// DecodeConversationChanges decodes a cqm.ExConversationChangeNotification
// (or its aam. variant) and returns its subscription id and changes.
func DecodeConversationChanges(n *Notification) (string, []ConversationChange, error) {
	var body struct {
		SubscriptionID json.RawMessage `json:"subscriptionId"`
		Changes        json.RawMessage `json:"changes"`
	}
	if err := decodeObject(n.Body, &body); err != nil {
		return "", nil, err
	}
	var out []ConversationChange
	for _, raw := range list(body.Changes) {
		var ch struct {
			Type   string          `json:"type"`
			Result json.RawMessage `json:"result"`
		}
		if err := decodeObject(raw, &ch); err != nil {
			return text(body.SubscriptionID), out, err
		}
		info, err := decodeConversation(ch.Result)
		if err != nil {
			return text(body.SubscriptionID), out, err
		}
		out = append(out, ConversationChange{Type: ch.Type, Conversation: info, Raw: raw})
	}
	return text(body.SubscriptionID), out, nil
}

func decodeConversation(raw json.RawMessage) (ConversationInfo, error) {
	var r struct {
		ConvID         json.RawMessage `json:"convId"`
		LastUpdateTime json.RawMessage `json:"lastUpdateTime"`
		EffectiveTTR   json.RawMessage `json:"effectiveTTR"`
		Details        struct {
			Participants    json.RawMessage `json:"participants"`
			ParticipantsPID json.RawMessage `json:"participantsPId"`
			Dialogs         json.RawMessage `json:"dialogs"`
			State           string          `json:"state"`
			Stage           string          `json:"stage"`
			CloseReason     string          `json:"closeReason"`
			StartTs         json.RawMessage `json:"startTs"`
			EndTs           json.RawMessage `json:"endTs"`
			MetaDataLastTs  json.RawMessage `json:"metaDataLastUpdateTs"`
			TTR             *struct {
				Type  string          `json:"ttrType"`
				Value json.RawMessage `json:"value"`
			} `json:"ttr"`
			Delay *struct {
				Type     string          `json:"type"`
				TillWhen json.RawMessage `json:"tillWhen"`
			} `json:"delay"`
			ManualETTR json.RawMessage `json:"manualETTR"`
			CSAT       *struct {
				Rate                   json.RawMessage `json:"csatRate"`
				ResolutionConfirmation bool            `json:"csatResolutionConfirmation"`
				Status                 string          `json:"status"`
			} `json:"csat"`
			SkillID json.RawMessage `json:"skillId"`
			BrandID json.RawMessage `json:"brandId"`
		} `json:"conversationDetails"`
	}
	if err := decodeObject(raw, &r); err != nil {
		return ConversationInfo{}, err
	}
	d := r.Details
	info := ConversationInfo{
		ID: text(r.ConvID), LastUpdateTime: millis(r.LastUpdateTime), State: ConversationState(d.State),
		Stage: ConversationState(d.Stage), CloseReason: d.CloseReason, StartTime: millis(d.StartTs),
		EndTime: millis(d.EndTs), ManualETTR: millis(d.ManualETTR), SkillID: text(d.SkillID), BrandID: text(d.BrandID),
		Participants: participants(d.Participants, d.ParticipantsPID), Raw: raw,
	}
	if info.LastUpdateTime.IsZero() {
		info.LastUpdateTime = millis(d.MetaDataLastTs)
	}
	if n, ok := integer(r.EffectiveTTR); ok {
		info.EffectiveTTR = n
	}
	if d.TTR != nil {
		v, _ := integer(d.TTR.Value)
		info.TTR = &TTR{Type: TTRType(d.TTR.Type), Value: time.Duration(v) * time.Second}
	}
	if d.Delay != nil {
		info.Delay = &Delay{Type: d.Delay.Type, Until: millis(d.Delay.TillWhen)}
	}
	if d.CSAT != nil {
		rate, _ := integer(d.CSAT.Rate)
		info.CSAT = &CSAT{Rate: int(rate), ResolutionConfirmation: d.CSAT.ResolutionConfirmation, Status: CSATStatus(d.CSAT.Status)}
	}
	for _, dr := range list(d.Dialogs) {
		info.Dialogs = append(info.Dialogs, decodeDialog(dr))
	}
	return info, nil
}

func decodeDialog(raw json.RawMessage) Dialog {
	var d struct {
		DialogID            json.RawMessage `json:"dialogId"`
		ParticipantsDetails json.RawMessage `json:"participantsDetails"`
		Participants        json.RawMessage `json:"participants"`
		DialogType          string          `json:"dialogType"`
		ChannelType         string          `json:"channelType"`
		MetaData            json.RawMessage `json:"metaData"`
		State               string          `json:"state"`
		CreationTs          json.RawMessage `json:"creationTs"`
		EndTs               json.RawMessage `json:"endTs"`
		MetaDataLastTs      json.RawMessage `json:"metaDataLastUpdateTs"`
		ClosedBy            string          `json:"closedBy"`
		ClosedCause         string          `json:"closedCause"`
	}
	if decodeObject(raw, &d) != nil {
		return Dialog{}
	}
	out := Dialog{ID: text(d.DialogID), Type: DialogType(d.DialogType), ChannelType: d.ChannelType, State: ConversationState(d.State),
		MetaData: wire.NullToNil(d.MetaData), CreationTime: millis(d.CreationTs), EndTime: millis(d.EndTs),
		LastUpdateTime: millis(d.MetaDataLastTs), ClosedBy: d.ClosedBy, ClosedCause: d.ClosedCause}
	out.Participants = participants(d.ParticipantsDetails, nil)
	if out.Participants == nil {
		out.Participants = participants(d.Participants, nil) // plain ids in the CoBrowse sample
	}
	if d.ChannelType == "COBROWSE" {
		var m struct {
			ServiceID    json.RawMessage `json:"serviceId"`
			Mode         string          `json:"mode"`
			SessionState string          `json:"sessionState"`
			Expires      json.RawMessage `json:"expires"`
		}
		if decodeObject(d.MetaData, &m) == nil {
			inv := &Invitation{ServiceID: text(m.ServiceID), Mode: m.Mode, SessionState: m.SessionState}
			if secs, err := strconv.ParseFloat(text(m.Expires), 64); err == nil && secs > 0 {
				inv.Expires = time.UnixMilli(int64(secs * 1000)) // seconds, with a fraction
			}
			out.Invitation = inv
		}
	}
	return out
}

// participants accepts [{id, role}], ["id", …], a bare element, and the
// old participantsPId {ROLE: [ids]} map (§22.2).
func participants(list1, byRole json.RawMessage) []Participant {
	var out []Participant
	for _, raw := range list(list1) {
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '{' {
			var p struct {
				ID   json.RawMessage `json:"id"`
				Role string          `json:"role"`
			}
			if json.Unmarshal(raw, &p) == nil {
				out = append(out, Participant{ID: text(p.ID), Role: Role(p.Role)})
			}
			continue
		}
		if id := text(raw); id != "" {
			out = append(out, Participant{ID: id})
		}
	}
	var m map[string]json.RawMessage
	if len(byRole) > 0 && json.Unmarshal(byRole, &m) == nil {
		roles := make([]string, 0, len(m))
		for r := range m {
			roles = append(roles, r)
		}
		sort.Strings(roles)
		for _, r := range roles {
			for _, id := range list(m[r]) {
				out = append(out, Participant{ID: text(id), Role: Role(r)})
			}
		}
	}
	return out
}
