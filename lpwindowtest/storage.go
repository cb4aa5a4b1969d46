package lpwindowtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// storage is a Swift-like object store with temp URLs (reference §15):
// PUT and GET {relativePath}?temp_url_sig=..&temp_url_expires=.., the
// signature an HMAC of method, expiry and path.
type storage struct {
	s     *Server
	mu    sync.Mutex
	files map[string][]byte // relative path -> content
}

func newStorage(s *Server) *storage { return &storage{s: s, files: map[string][]byte{}} }

// FileTypes are the upload types the API accepts (reference §15).
var FileTypes = []string{"JPG", "JPEG", "PNG", "GIF"}

// sign returns the query parameters for method on path, valid for the
// server's URL lifetime.
func (st *storage) sign(method, path string) (sig, expires string) {
	exp := strconv.FormatInt(time.Now().Add(st.s.opts.URLLifetime).Unix(), 10)
	return st.mac(method, exp, path), exp
}

func (st *storage) mac(method, expires, path string) string {
	m := hmac.New(sha256.New, st.s.fileKey)
	fmt.Fprintf(m, "%s\n%s\n%s", method, expires, path)
	return hex.EncodeToString(m.Sum(nil))
}

// check verifies a temp URL; it answers 401 itself when it fails.
func (st *storage) check(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	sig, exp := q.Get("temp_url_sig"), q.Get("temp_url_expires")
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(st.mac(r.Method, exp, r.URL.Path))) {
		http.Error(w, "temp URL invalid", http.StatusUnauthorized)
		return false
	}
	if time.Now().Unix() > e {
		http.Error(w, "temp URL expired", http.StatusUnauthorized)
		return false
	}
	return true
}

func (st *storage) put(w http.ResponseWriter, r *http.Request) {
	if st.s.faults.storage(w) || !st.check(w, r) {
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxFileSize+1))
	if err != nil {
		http.Error(w, "reading the upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(b) > MaxFileSize {
		http.Error(w, "file exceeds 3 MB", http.StatusRequestEntityTooLarge)
		return
	}
	st.mu.Lock()
	st.files[r.URL.Path] = b
	st.mu.Unlock()
	st.s.state.notifyChanged()
	w.WriteHeader(http.StatusCreated)
}

func (st *storage) get(w http.ResponseWriter, r *http.Request) {
	if st.s.faults.storage(w) || !st.check(w, r) {
		return
	}
	st.mu.Lock()
	b, ok := st.files[r.URL.Path]
	st.mu.Unlock()
	if !ok {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	ext := strings.ToLower(r.URL.Path[strings.LastIndexByte(r.URL.Path, '.')+1:])
	ct := map[string]string{"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}[ext]
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// File returns an uploaded file's content by relative path.
func (s *Server) File(relativePath string) ([]byte, bool) {
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	b, ok := s.files.files[relativePath]
	return append([]byte(nil), b...), ok
}

// PutFile stores content as if uploaded and returns its relative path, for
// agents that share files.
func (s *Server) PutFile(fileType string, content []byte) string {
	path := "/v1/AUTH_async-images/" + s.opts.Account + "/" + newID() + "." + strings.ToUpper(fileType)
	s.files.mu.Lock()
	s.files.files[path] = append([]byte(nil), content...)
	s.files.mu.Unlock()
	return path
}
