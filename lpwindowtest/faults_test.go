package lpwindowtest_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

func TestFailAndDelayRequests(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	s.FailRequests("GetClock", 429, 2)
	assert.ErrorIs(t, k.reqErr("GetClock", nil), lpwindow.ErrRateLimited)
	assert.ErrorIs(t, k.reqErr("GetClock", nil), lpwindow.ErrRateLimited)
	k.req("GetClock", nil) // the rule ran out
	s.FailRequests("cm.ConsumerRequestConversation", 503, -1)
	for range 3 {
		assert.ErrorIs(t, k.reqErr("cm.ConsumerRequestConversation", nil), lpwindow.ErrServerError)
	}
	s.FailRequests("cm.ConsumerRequestConversation", 0, 0)
	k.open()

	s.DelayResponses("GetClock", 300*time.Millisecond)
	start := time.Now()
	k.req("GetClock", nil)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	s.DelayResponses("GetClock", 0)
}

func TestDropAndCloseConnections(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(s *lpwindowtest.Server, id string) int
		check func(t *testing.T, err error)
	}{
		{"drop", func(s *lpwindowtest.Server, id string) int { return s.DropConnections(id) }, func(t *testing.T, err error) {}},
		{"1011", func(s *lpwindowtest.Server, id string) int { return s.CloseConnections(id, 1011, "restart") }, func(t *testing.T, err error) {
			var ce *lpwindow.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 1011, ce.Code)
		}},
		{"4401", func(s *lpwindowtest.Server, id string) int { return s.CloseConnections(id, 4401, "") }, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, lpwindow.ErrTokenExpired)
		}},
		{"4407", func(s *lpwindowtest.Server, id string) int { return s.CloseConnections(id, 4407, "") }, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, lpwindow.ErrIdentityExpired)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, lpwindowtest.Options{})
			k, id := connect(t, s, lpwindow.AuthHeaders)
			other, _ := connect(t, s, lpwindow.AuthHeaders)
			assert.Equal(t, 1, tc.fault(s, id))
			require.Eventually(t, func() bool { return k.c.State() == lpwindow.StateFailed }, 5*time.Second, 5*time.Millisecond)
			err := k.reqErr("GetClock", nil)
			assert.ErrorIs(t, err, lpwindow.ErrConnectionLost)
			tc.check(t, err)
			other.req("GetClock", nil) // only that consumer was hit
			assert.Equal(t, 0, s.Connections(id))
		})
	}
}

func TestMalformedFramesReachTheClient(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, id := connect(t, s, lpwindow.AuthHeaders)
	for _, f := range []string{`not json`, `{"kind":"resp","reqId":{}}`, `[1,2]`} {
		assert.Equal(t, 1, s.SendRaw(id, []byte(f)))
	}
	k.req("GetClock", nil)
	require.Eventually(t, func() bool { return k.c.Stats().MalformedFrames == 3 }, 5*time.Second, 5*time.Millisecond)
}

func TestNotificationFaults(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	conv := k.open()
	k.req("ms.SubscribeMessagingEvents", map[string]any{"dialogId": conv})
	a := s.NewAgent("A")
	require.NoError(t, a.Join(conv))
	s.SetNotificationFaults(lpwindowtest.NotificationFaults{Duplicate: 0.3, Reorder: 0.3, Seed: 7})
	const n = 200
	for range n {
		_, err := a.SendText(conv, "x")
		require.NoError(t, err)
	}
	s.SetNotificationFaults(lpwindowtest.NotificationFaults{})
	_, err := a.SendText(conv, "last") // flushes a held-back one
	require.NoError(t, err)
	k.wait("all", func() bool {
		for _, c := range k.changes("MessagingEventNotification") {
			if c["sequence"] == float64(n) {
				return true
			}
		}
		return false
	})
	var seqs []int
	for _, c := range k.changes("MessagingEventNotification") {
		seqs = append(seqs, int(c["sequence"].(float64)))
	}
	dups, inversions := 0, 0
	seen := map[int]bool{}
	for i, q := range seqs {
		if seen[q] {
			dups++
		}
		seen[q] = true
		if i > 0 && q < seqs[i-1] {
			inversions++
		}
	}
	assert.Len(t, seen, n+1, "nothing is lost")
	assert.Greater(t, dups, 20)
	assert.Greater(t, inversions, 20)
}

func TestStorageFaults(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, _ := connect(t, s, lpwindow.AuthHeaders)
	var u struct {
		RelativePath string
		QueryParams  map[string]string
	}
	require.NoError(t, k.req("ms.GenerateURLForUploadFile", map[string]any{"fileSize": "1", "fileType": "GIF"}).Decode(&u))
	q := "?temp_url_sig=" + u.QueryParams["temp_url_sig"] + "&temp_url_expires=" + u.QueryParams["temp_url_expires"]
	s.FailStorage(500)
	code, _ := get(t, s, u.RelativePath+q)
	assert.Equal(t, 500, code)
	s.FailStorage(0)
	release := make(chan struct{})
	s.HangStorage(release)
	done := make(chan int)
	go func() {
		resp, err := s.HTTPClient().Get(s.URL() + u.RelativePath + q)
		if err == nil {
			resp.Body.Close()
			done <- resp.StatusCode
		} else {
			done <- 0
		}
	}()
	select {
	case <-done:
		t.Fatal("storage answered while hung")
	case <-time.After(100 * time.Millisecond):
	}
	s.HangStorage(nil)
	close(release)
	assert.Equal(t, 401, <-done, "an upload URL is signed for PUT only")
}

func TestFrameLog(t *testing.T) {
	s := newServer(t, lpwindowtest.Options{})
	k, id := connect(t, s, lpwindow.AuthInitConnection)
	k.req("GetClock", nil)
	f, err := s.WaitFrame(ctxT(t), func(f lpwindowtest.Frame) bool {
		return f.Direction == lpwindowtest.Out && f.Kind == "resp" && f.ConsumerID == id
	})
	require.NoError(t, err)
	assert.Contains(t, string(f.Data), `"reqId"`)
	var in []string
	for _, f := range s.Frames() {
		if f.Direction == lpwindowtest.In {
			in = append(in, f.Type)
		}
	}
	assert.Equal(t, []string{"InitConnection", "GetClock"}, in)
}
