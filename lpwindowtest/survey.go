package lpwindowtest

import (
	"encoding/json"
	"slices"
)

// SurveyQuestion is one question of a post-conversation survey (PCS),
// asked as a text with quick-reply answers.
type SurveyQuestion struct {
	ID      string
	Text    string
	Answers []string
}

// SurveyAnswer is a consumer's answer as the survey recorded it.
type SurveyAnswer struct {
	QuestionID string
	Text       string
	Metadata   json.RawMessage // the envelope metadata the consumer sent with it
}

type surveyRun struct {
	dialog  *dialog
	botID   string
	next    int
	answers []SurveyAnswer
}

// EnableSurvey turns on a post-conversation survey with these questions:
// when the MAIN dialog of a conversation that had an assigned agent
// closes, a POST_SURVEY dialog opens (conversation state CLOSE, stage
// OPEN), a survey bot asks each question with quick replies, and after the
// last answer it closes the dialog (closedBy AGENT, closedCause
// "Completed") and the stage (reference §10, PCS specifics). Calling it
// with no questions turns the survey off.
func (s *Server) EnableSurvey(questions ...SurveyQuestion) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if len(questions) == 0 {
		s.survey = nil
		return
	}
	s.survey = slices.Clone(questions)
}

// SurveyAnswers returns the answers recorded in a conversation's survey.
func (s *Server) SurveyAnswers(convID string) []SurveyAnswer {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	c := s.state.convs[convID]
	if c == nil || c.survey == nil {
		return nil
	}
	return slices.Clone(c.survey.answers)
}

func (st *state) openSurvey(t *tx, c *conversation) {
	now := touch(c, nil)
	bot := Participant{"survey-bot-" + c.id[:8], "AGENT"}
	d := &dialog{id: newID(), typ: "POST_SURVEY", channel: "MESSAGING", state: "OPEN", created: now, updated: now,
		participants: []Participant{{c.consumerID, "CONSUMER"}, bot},
		metaData:     map[string]any{"appInstallId": newID()}}
	c.dialogs = append(c.dialogs, d)
	c.participants = addParticipant(c.participants, bot)
	st.byDlg[d.id] = c
	c.survey = &surveyRun{dialog: d, botID: bot.ID}
	st.askNext(t, c)
}

func (st *state) askNext(t *tx, c *conversation) {
	run := c.survey
	qs := st.s.survey
	if run.next >= len(qs) {
		st.surveyEvent(t, c, map[string]any{"type": "ContentEvent", "contentType": "text/plain", "message": "Thank you for your feedback!"})
		st.closeDialog(t, c, run.dialog, "AGENT", "Completed")
		return
	}
	q := qs[run.next]
	replies := make([]QuickReply, len(q.Answers))
	for i, a := range q.Answers {
		md, _ := json.Marshal([]map[string]string{{"type": "Answer", "questionId": q.ID, "id": q.ID + "-" + a, "provider": "AC"}})
		replies[i] = QuickReply{Title: a, Metadata: md}
	}
	st.surveyEvent(t, c, quickReplyEvent(q.Text, replies))
}

func (st *state) surveyEvent(t *tx, c *conversation, ev map[string]any) {
	raw, _ := json.Marshal(ev)
	st.addEvent(t, c.survey.dialog, &Event{OriginatorID: c.survey.botID, Role: "AGENT", ConversationID: c.id, DialogID: c.survey.dialog.id, Event: raw})
}

// surveyObserve records a consumer text in the survey dialog as the answer
// to the current question and asks the next one.
func (st *state) surveyObserve(t *tx, c *conversation, d *dialog, e *Event) {
	run := c.survey
	text := e.Text()
	if d != run.dialog || text == "" || run.next >= len(st.s.survey) {
		return
	}
	run.answers = append(run.answers, SurveyAnswer{QuestionID: st.s.survey[run.next].ID, Text: text, Metadata: e.Metadata})
	run.next++
	st.askNext(t, c)
}
