package lpwindow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// AgentProfile is an agent's public profile.
type AgentProfile struct {
	ID         string
	Nickname   string
	FullName   string
	PictureURL string
	EmployeeID string
	Raw        json.RawMessage // the whole response
}

// AgentProfile looks up an agent's public profile by participant id (the
// originatorId of its events, or an ASSIGNED_AGENT participant's id) on the
// account-config CDN, Config.Domains.ACCDN (reference §16):
//
//	GET https://{acCdnDomain}/api/account/{account}/configuration/le-users/users/{agentId}
//
// UNCONFIRMED in LivePerson's documentation: whether a consumer needs any
// credential for this call (none is sent: it is a public CDN resource), and
// which fields the response holds (those above follow the Users API; Raw
// keeps the rest). A failure is an *HTTPError; 5xx and network failures
// are retried per Config.Retry, 4xx are not.
func (c *Conn) AgentProfile(ctx context.Context, agentID string) (*AgentProfile, error) {
	if err := checkID("agentId", agentID, true); err != nil {
		return nil, err
	}
	if c.cfg.Domains.ACCDN == "" {
		return nil, invalidf(ErrInvalidConfig, "Domains.ACCDN is needed for agent profiles")
	}
	path := "/api/account/" + url.PathEscape(c.cfg.Account) + "/configuration/le-users/users/" + url.PathEscape(agentID)
	body, err := restCall{hc: c.cfg.HTTPClient, method: http.MethodGet, scheme: schemeFor(c.cfg.Insecure), host: c.cfg.Domains.ACCDN,
		path: path, service: "acCdnDomain", retry: c.cfg.Retry, log: c.log}.do(ctx)
	if err != nil {
		return nil, err
	}
	var p struct {
		ID         json.RawMessage `json:"id"`
		PID        json.RawMessage `json:"pid"`
		Nickname   string          `json:"nickname"`
		FullName   string          `json:"fullName"`
		PictureURL string          `json:"pictureUrl"`
		EmployeeID json.RawMessage `json:"employeeId"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("lpwindow: agent profile: %w", err)
	}
	out := &AgentProfile{ID: text(p.ID), Nickname: p.Nickname, FullName: p.FullName, PictureURL: p.PictureURL, EmployeeID: text(p.EmployeeID), Raw: body}
	if out.ID == "" {
		out.ID = text(p.PID)
	}
	return out, nil
}
