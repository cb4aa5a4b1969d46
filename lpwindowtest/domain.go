package lpwindowtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
)

// Services lists the service names the Domain API resolves, all to the
// server itself (reference §2).
var Services = []string{"asyncMessagingEnt", "idp", "swift", "acCdnDomain", "msdkgw", "agentVep"}

type baseURI struct {
	Service string `json:"service"`
	Account string `json:"account"`
	BaseURI string `json:"baseURI"`
}

// domainArgs checks version=1.0 and the account; it answers the error
// itself (400 bad parameters, 401 unknown site: reference §2).
func (s *Server) domainArgs(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("version") != "1.0" {
		errorJSON(w, http.StatusBadRequest, "version=1.0 is required")
		return false
	}
	return s.knownAccount(w, r)
}

func (s *Server) service(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("service")
	if !slices.Contains(Services, name) { // names are case-sensitive
		errorJSON(w, http.StatusBadRequest, "unknown service "+name)
		return "", false
	}
	return name, true
}

// domainOne answers the per-service form with a bare object. UNCONFIRMED
// (reference §2): the docs show only the list form; clients must accept both.
func (s *Server) domainOne(w http.ResponseWriter, r *http.Request) {
	if !s.domainArgs(w, r) {
		return
	}
	name, ok := s.service(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, baseURI{Service: name, Account: s.opts.Account, BaseURI: s.host})
}

// domainAll answers the all-services form with the documented list.
func (s *Server) domainAll(w http.ResponseWriter, r *http.Request) {
	if !s.domainArgs(w, r) {
		return
	}
	list := make([]baseURI, 0, len(Services))
	for _, name := range Services {
		list = append(list, baseURI{Service: name, Account: s.opts.Account, BaseURI: s.host})
	}
	writeJSON(w, http.StatusOK, map[string]any{"baseURIs": list})
}

var jsonpName = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$.]{0,127}$`)

// domainJSONP answers the legacy browser form: cb({"ResultSet":{"lpData":[{"lpServer":host}]}}).
func (s *Server) domainJSONP(w http.ResponseWriter, r *http.Request) {
	if !s.domainArgs(w, r) {
		return
	}
	if _, ok := s.service(w, r); !ok {
		return
	}
	cb := r.URL.Query().Get("cb")
	if !jsonpName.MatchString(cb) {
		errorJSON(w, http.StatusBadRequest, "cb must be a JavaScript identifier")
		return
	}
	body, _ := json.Marshal(map[string]any{"ResultSet": map[string]any{"lpData": []map[string]string{{"lpServer": s.host, "lpAccount": s.opts.Account}}}})
	w.Header().Set("Content-Type", "application/javascript")
	fmt.Fprintf(w, "%s(%s);", cb, body)
}

// agentProfile serves the public profile of an agent the server knows
// (reference §16; fields UNCONFIRMED: it answers id, nickname, pictureUrl
// and employeeId, which the Users API documents). No authentication is
// required, as for a CDN resource.
func (s *Server) agentProfile(w http.ResponseWriter, r *http.Request) {
	if !s.knownAccount(w, r) {
		return
	}
	a := s.state.agentByID(r.PathValue("user"))
	if a == nil {
		errorJSON(w, http.StatusNotFound, "no such user")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": a.id, "pid": a.id, "nickname": a.name, "fullName": a.name,
		"pictureUrl": "https://" + s.host + "/avatars/" + a.id + ".png", "employeeId": a.id,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
