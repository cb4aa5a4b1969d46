package lpwindow_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lpwindow/lpwindow"
	"github.com/lpwindow/lpwindow/lpwindowtest"
)

// pngImage returns a w×h PNG with a gradient (so it does not compress to
// nothing).
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func fileConversation(t *testing.T) (*lpwindowtest.Server, *lpwindow.Conn, *lpwindow.Conversation) {
	t.Helper()
	s := newFake(t, lpwindowtest.Options{})
	c := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token = lpwindow.Signup() })
	cv, err := c.OpenConversation(tctx(t), lpwindow.ConversationOptions{})
	require.NoError(t, err)
	return s, c, cv
}

// uploadsAsked counts the upload URLs the server was asked for.
func uploadsAsked(s *lpwindowtest.Server) int {
	n := 0
	for _, f := range s.Frames() {
		if f.Direction == lpwindowtest.In && strings.Contains(string(f.Data), lpwindow.TypeGenerateUploadURL) {
			n++
		}
	}
	return n
}

func hostedFiles(s *lpwindowtest.Server, convID string) int {
	n := 0
	for _, e := range s.Events(convID, "") {
		if strings.Contains(string(e.Event), "hosted/file") {
			n++
		}
	}
	return n
}

func TestSendFileAndDownload(t *testing.T) {
	s, c, cv := fileConversation(t)
	ctx := tctx(t)
	content := pngImage(t, 400, 300)
	var mu sync.Mutex
	var reports [][2]int64
	sent, err := cv.SendFile(ctx, bytes.NewReader(content), lpwindow.FileUpload{
		Caption:  "a chart",
		Progress: func(done, total int64) { mu.Lock(); reports = append(reports, [2]int64{done, total}); mu.Unlock() },
	})
	require.NoError(t, err)
	assert.Equal(t, lpwindow.FilePNG, sent.Type, "detected from the content")
	assert.EqualValues(t, len(content), sent.Size)
	assert.GreaterOrEqual(t, sent.Sequence, 0)
	stored, ok := s.File(sent.RelativePath)
	require.True(t, ok)
	assert.Equal(t, content, stored)
	mu.Lock()
	require.NotEmpty(t, reports)
	assert.Equal(t, [2]int64{int64(len(content)), int64(len(content))}, reports[len(reports)-1])
	mu.Unlock()

	// The published event: caption, path, type and a JPEG preview under 30 KB.
	ev, err := s.WaitEvent(ctx, cv.ID(), "", func(e *lpwindowtest.Event) bool { return strings.Contains(string(e.Event), "hosted/file") })
	require.NoError(t, err)
	assert.Equal(t, sent.Sequence, ev.Sequence)
	assert.Contains(t, string(ev.Event), `"caption":"a chart"`)
	assert.Contains(t, string(ev.Event), `"relativePath":"`+sent.RelativePath+`"`)
	assert.Contains(t, string(ev.Event), `"fileType":"PNG"`)
	require.True(t, strings.HasPrefix(sent.Preview, "data:image/jpeg;base64,"))
	assert.Less(t, len(sent.Preview), 30<<10)
	thumb, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sent.Preview, "data:image/jpeg;base64,"))
	require.NoError(t, err)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
	require.NoError(t, err)
	assert.Equal(t, 160, cfg.Width)
	assert.Equal(t, 120, cfg.Height)

	// Download streams it back.
	var got []int64
	rc, err := c.Download(ctx, sent.RelativePath, func(done, total int64) { got = append(got, done, total) })
	require.NoError(t, err)
	back, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, content, back)
	assert.Equal(t, []int64{int64(len(content)), int64(len(content))}, got[len(got)-2:])
}

func TestDownloadAnAgentsFile(t *testing.T) {
	s, c, cv := fileConversation(t)
	ctx := tctx(t)
	a := s.NewAgent("A")
	require.NoError(t, a.Join(cv.ID()))
	content := pngImage(t, 20, 20)
	_, _, err := a.SendFile(cv.ID(), "PNG", content, "from the agent")
	require.NoError(t, err)
	ev, err := cv.WaitFor(ctx, func(ev lpwindow.ConversationEvent) bool {
		return ev.Kind == lpwindow.KindMessage && ev.Message.Event.File != nil
	})
	require.NoError(t, err)
	rc, err := c.DownloadFile(ctx, ev.Message, nil)
	require.NoError(t, err)
	defer rc.Close()
	back, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, content, back)
	_, err = c.DownloadFile(ctx, &lpwindow.MessagingEvent{}, nil)
	assert.ErrorIs(t, err, lpwindow.ErrInvalidRequest)
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("disk read error")
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = 0x89
	}
	r.n -= n
	return n, nil
}

func TestSendFileRefusesBadInputBeforeSending(t *testing.T) {
	s, _, cv := fileConversation(t)
	ctx := tctx(t)
	img := pngImage(t, 10, 10)
	for name, tc := range map[string]struct {
		r    io.Reader
		f    lpwindow.FileUpload
		want error
	}{
		"wrong type":             {bytes.NewReader(img), lpwindow.FileUpload{Type: lpwindow.FileGIF}, lpwindow.ErrInvalidRequest},
		"not an image":           {strings.NewReader("%PDF-1.7 …"), lpwindow.FileUpload{}, lpwindow.ErrInvalidRequest},
		"unknown type":           {bytes.NewReader(img), lpwindow.FileUpload{Type: "BMP"}, lpwindow.ErrInvalidRequest},
		"empty":                  {strings.NewReader(""), lpwindow.FileUpload{}, lpwindow.ErrInvalidRequest},
		"oversize":               {io.MultiReader(bytes.NewReader(img), bytes.NewReader(make([]byte, lpwindow.MaxFileSize))), lpwindow.FileUpload{}, lpwindow.ErrInvalidRequest},
		"preview too large":      {bytes.NewReader(img), lpwindow.FileUpload{Preview: "data:image/png;base64," + strings.Repeat("A", 30<<10)}, lpwindow.ErrInvalidRequest},
		"preview not a data URL": {bytes.NewReader(img), lpwindow.FileUpload{Preview: "https://evil.example/x.png"}, lpwindow.ErrInvalidRequest},
		"nil reader":             {nil, lpwindow.FileUpload{}, lpwindow.ErrInvalidRequest},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := cv.SendFile(ctx, tc.r, tc.f)
			assert.ErrorIs(t, err, tc.want)
		})
	}
	_, err := cv.SendFile(ctx, &failingReader{n: 1000}, lpwindow.FileUpload{})
	assert.ErrorContains(t, err, "disk read error", "a reader failing half-way")
	assert.Zero(t, uploadsAsked(s), "nothing was sent")
	assert.Zero(t, hostedFiles(s, cv.ID()))
	_, err = cv.SendText(ctx, "still here")
	assert.NoError(t, err, "the conversation keeps working")
}

func TestSendFileStorageFailures(t *testing.T) {
	s, _, cv := fileConversation(t)
	ctx := tctx(t)
	img := pngImage(t, 10, 10)

	// An expired or refused signature: a fresh URL, once.
	s.FailStorageTimes(401, 1)
	_, err := cv.SendFile(ctx, bytes.NewReader(img), lpwindow.FileUpload{})
	require.NoError(t, err, "a 401 gets one fresh URL")
	assert.Equal(t, 2, uploadsAsked(s))
	assert.Equal(t, 1, hostedFiles(s, cv.ID()))

	for _, code := range []int{401, 403, 500} {
		s.FailStorage(code)
		_, err := cv.SendFile(ctx, bytes.NewReader(img), lpwindow.FileUpload{})
		var he *lpwindow.HTTPError
		require.ErrorAs(t, err, &he, "code %d", code)
		assert.Equal(t, code, he.StatusCode)
		assert.Equal(t, "swift", he.Service)
		assert.True(t, strings.HasPrefix(he.Endpoint, "PUT /v1/"), he.Endpoint)
		assert.NotContains(t, err.Error(), "temp_url_sig")
		s.FailStorage(0)
	}
	assert.Equal(t, 1, hostedFiles(s, cv.ID()), "nothing published after a failed upload")

	// Storage hangs: the context ends it promptly.
	release := make(chan struct{})
	s.HangStorage(release)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = cv.SendFile(short, bytes.NewReader(img), lpwindow.FileUpload{})
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second)
	close(release)
	s.HangStorage(nil)
	assert.Equal(t, 1, hostedFiles(s, cv.ID()))
	_, err = cv.SendText(ctx, "still here")
	assert.NoError(t, err)
}

func TestDownloadRefusesPathsOffTheStorageHost(t *testing.T) {
	s, c, _ := fileConversation(t)
	for _, p := range []string{"", "v1/x.png", "//evil.example/x.png", "/v1/../../etc/passwd", "/v1/a/./b.png", "/v1/x.png?sig=1", "/v1/%2e%2e/x", "/v1/x\\y", "/v1/x@evil"} {
		_, err := c.Download(tctx(t), p, nil)
		assert.ErrorIs(t, err, lpwindow.ErrInvalidRequest, "%q", p)
	}
	for _, f := range s.Frames() {
		assert.NotContains(t, string(f.Data), lpwindow.TypeGenerateDownloadURL, "refused before asking")
	}
	_, err := c.Download(tctx(t), "/v1/AUTH_async-images/"+s.Account()+"/missing.PNG", nil)
	assert.ErrorIs(t, err, lpwindow.ErrNotFound)
}

func TestDownloadCancelledMidStream(t *testing.T) {
	s, c, _ := fileConversation(t)
	path := s.PutFile("PNG", bytes.Repeat([]byte{1}, 2<<20))
	ctx, cancel := context.WithCancel(tctx(t))
	rc, err := c.Download(ctx, path, nil)
	require.NoError(t, err)
	defer rc.Close()
	buf := make([]byte, 1024)
	_, err = io.ReadFull(rc, buf)
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(rc)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestUploadWithoutSwift(t *testing.T) {
	s := newFake(t, lpwindowtest.Options{})
	c := dialOn(t, s, func(cfg *lpwindow.Config) { cfg.Token, cfg.Domains.Swift = lpwindow.Signup(), "" })
	_, err := c.Upload(tctx(t), bytes.NewReader(pngImage(t, 2, 2)), lpwindow.FileUpload{})
	assert.ErrorIs(t, err, lpwindow.ErrInvalidConfig)
}

func TestUploadNoPreviewAndJPEG(t *testing.T) {
	_, c, _ := fileConversation(t)
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, nil))
	up, err := c.Upload(tctx(t), bytes.NewReader(buf.Bytes()), lpwindow.FileUpload{Type: lpwindow.FileJPEG, NoPreview: true})
	require.NoError(t, err)
	assert.Empty(t, up.Preview)
	assert.Equal(t, lpwindow.FileJPEG, up.Type)
	assert.Zero(t, up.Sequence, "Upload does not publish")
}
