package lpwindow

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for previews
	"image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// FileUpload describes a file to share (reference §15).
type FileUpload struct {
	// Type is JPG, JPEG, PNG or GIF. Default: detected from the content,
	// which must match the type when it is given.
	Type FileType
	// Caption is shown with the file. Default none.
	Caption string
	// Preview is a base64 data URL under 30 KB shown before the file is
	// downloaded. Default: a JPEG thumbnail of at most 160×160 pixels made
	// from the image (none if it cannot be decoded); NoPreview sends none.
	Preview   string
	NoPreview bool
	// Progress, when set, is called as bytes go out (done of total), on a
	// goroutine of the HTTP client.
	Progress func(done, total int64)
}

// SentFile is a file uploaded and published.
type SentFile struct {
	Sequence     int      // the published event's sequence in the dialog
	RelativePath string   // where storage keeps it (for GenerateDownloadURL)
	Type         FileType // the upload type
	Size         int64    // bytes uploaded
	Preview      string   // the preview sent, if any
}

// SendFile shares a file in the conversation's MAIN dialog: it reads r
// (at most MaxFileSize bytes), checks the type and size, asks for an
// upload URL (ms.GenerateURLForUploadFile), PUTs the bytes to the swift
// host, and publishes the hosted/file event with caption and preview. A
// signed URL that storage refuses with 401 (they live about a minute) is
// replaced once. Nothing is published unless the upload succeeded; every
// failure is a typed error (ErrInvalidRequest before anything is sent,
// *HTTPError from storage, context errors), and the conversation keeps
// working. ctx bounds it all; without a deadline Config.FileTimeout does.
func (cv *Conversation) SendFile(ctx context.Context, r io.Reader, f FileUpload) (*SentFile, error) {
	up, err := cv.c.Upload(ctx, r, f)
	if err != nil {
		return nil, err
	}
	ft := HostedFileType(up.Type)
	if up.Type == FileJPEG {
		// HostedFile's schema enum has JPG but not JPEG (reference §15).
		ft = HostedFileType(FileJPG)
	}
	seq, err := cv.publish(ctx, cv.id, HostedFile{Caption: f.Caption, RelativePath: up.RelativePath, FileType: ft, Preview: up.Preview}, nil)
	if err != nil {
		return nil, fmt.Errorf("lpwindow: the file was uploaded to %s but publishing it failed: %w", up.RelativePath, err)
	}
	up.Sequence = seq
	return up, nil
}

// Upload does SendFile's checks and upload without publishing: the
// caller publishes a HostedFile with the returned RelativePath itself.
// Sequence is zero.
func (c *Conn) Upload(ctx context.Context, r io.Reader, f FileUpload) (*SentFile, error) {
	if r == nil {
		return nil, invalidf(ErrInvalidRequest, "no file to upload")
	}
	if c.cfg.Domains.Swift == "" {
		return nil, invalidf(ErrInvalidConfig, "Domains.Swift is needed to share files (the Domain API gave none)")
	}
	if f.Preview != "" && (len(f.Preview) >= maxPreview || !strings.HasPrefix(f.Preview, "data:image/")) {
		return nil, invalidf(ErrInvalidRequest, "the preview must be a data:image/… URL under 30 KB")
	}
	ctx, cancel := c.withFileTimeout(ctx)
	defer cancel()
	// Read it all first (3 MB at most): the type and size are checked
	// before anything goes out, and a refused signed URL can be retried.
	content, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("lpwindow: reading the file: %w", err)
	}
	if len(content) == 0 {
		return nil, invalidf(ErrInvalidRequest, "the file is empty")
	}
	if len(content) > MaxFileSize {
		return nil, invalidf(ErrInvalidRequest, "the file is larger than %d bytes", MaxFileSize)
	}
	sniffed := sniffFileType(content)
	switch {
	case sniffed == "":
		return nil, invalidf(ErrInvalidRequest, "the file is not a JPEG, PNG or GIF image")
	case f.Type == "":
		f.Type = sniffed
	case f.Type != sniffed && !(f.Type == FileJPEG && sniffed == FileJPG):
		return nil, invalidf(ErrInvalidRequest, "the file is %s, not %s", sniffed, f.Type)
	}
	preview := f.Preview
	if preview == "" && !f.NoPreview {
		preview = makePreview(content)
	}
	size := int64(len(content))
	for attempt := 0; ; attempt++ {
		u, err := c.GenerateUploadURL(ctx, size, f.Type)
		if err != nil {
			return nil, err
		}
		body := &progressReader{r: bytes.NewReader(content), total: size, report: f.Progress}
		resp, err := c.storage(ctx, http.MethodPut, u, body, size)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			c.log.Debug("lpwindow: storage refused the signed upload URL; asking for another", "path", u.RelativePath)
			continue
		}
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return nil, storageError(resp, http.MethodPut, u.RelativePath)
		}
		return &SentFile{RelativePath: u.RelativePath, Type: f.Type, Size: size, Preview: preview}, nil
	}
}

// Download fetches a shared file: ms.GenerateURLForDownloadFile, then GET
// on the swift host. The body is streamed, not buffered: read it and Close
// it. ctx governs the whole download, reading included; without a deadline
// Config.FileTimeout does. progress, when not nil, is called as bytes
// arrive (total is -1 when storage does not say). A 401 from storage
// (expired URL) is retried once with a fresh URL; other statuses are an
// *HTTPError.
func (c *Conn) Download(ctx context.Context, relativePath string, progress func(done, total int64)) (io.ReadCloser, error) {
	if err := checkRelativePath(relativePath); err != nil {
		return nil, err
	}
	if c.cfg.Domains.Swift == "" {
		return nil, invalidf(ErrInvalidConfig, "Domains.Swift is needed to download files (the Domain API gave none)")
	}
	ctx, cancel := c.withFileTimeout(ctx)
	for attempt := 0; ; attempt++ {
		u, err := c.GenerateDownloadURL(ctx, relativePath)
		if err != nil {
			cancel()
			return nil, err
		}
		resp, err := c.storage(ctx, http.MethodGet, u, nil, 0)
		if err != nil {
			cancel()
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			resp.Body.Close()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			err := storageError(resp, http.MethodGet, u.RelativePath)
			resp.Body.Close()
			cancel()
			return nil, err
		}
		return &download{progressReader: progressReader{r: resp.Body, total: resp.ContentLength, report: progress}, body: resp.Body, cancel: cancel}, nil
	}
}

// DownloadFile fetches the file of an incoming hosted/file event (an
// agent's or the consumer's own); see Download.
func (c *Conn) DownloadFile(ctx context.Context, ev *MessagingEvent, progress func(done, total int64)) (io.ReadCloser, error) {
	if ev == nil || ev.Event.File == nil {
		return nil, invalidf(ErrInvalidRequest, "the event is not a hosted/file ContentEvent")
	}
	return c.Download(ctx, ev.Event.File.RelativePath, progress)
}

// withFileTimeout gives ctx Config.FileTimeout when it has no deadline.
func (c *Conn) withFileTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.FileTimeout)
}

// storage makes one request to the swift host with a signed URL. Only
// that host is reached: the path is checked, and redirects are not
// followed. Errors never carry the signature.
func (c *Conn) storage(ctx context.Context, method string, u *SignedURL, body io.Reader, size int64) (*http.Response, error) {
	if err := checkRelativePath(u.RelativePath); err != nil {
		return nil, fmt.Errorf("lpwindow: the server answered an unusable file path: %w", err)
	}
	target := &url.URL{Scheme: schemeFor(c.cfg.Insecure), Host: c.cfg.Domains.Swift, Path: u.RelativePath, RawQuery: u.Query()}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return nil, fmt.Errorf("lpwindow: storage %s %s: %w", method, u.RelativePath, redactErr(err, []string{u.Signature}))
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	hc := *c.cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the URL, signature included
		}
		return nil, fmt.Errorf("lpwindow: storage %s %s: %w", method, u.RelativePath, redactErr(err, []string{u.Signature}))
	}
	return resp, nil
}

func storageError(resp *http.Response, method, relativePath string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &HTTPError{StatusCode: resp.StatusCode, Service: "swift", Endpoint: method + " " + relativePath, Body: strings.TrimSpace(string(b))}
}

// checkRelativePath accepts a clean absolute path that stays on the swift
// host: no scheme or host of its own, no dot segments, no query, no
// escapes.
func checkRelativePath(p string) error {
	switch {
	case p == "" || p[0] != '/' || strings.HasPrefix(p, "//"):
		return invalidf(ErrInvalidRequest, "relativePath %q must be an absolute path on the storage host", p)
	case len(p) > 1024 || path.Clean(p) != p || strings.ContainsAny(p, "?#%\\@ \t\r\n") || strings.Contains(p, ".."):
		return invalidf(ErrInvalidRequest, "relativePath %q would leave the storage path", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return invalidf(ErrInvalidRequest, "relativePath has a control character")
		}
	}
	return nil
}

// sniffFileType names the image type by its magic bytes, or "".
func sniffFileType(b []byte) FileType {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return FileJPG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return FilePNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return FileGIF
	}
	return ""
}

// maxPreviewPixels bounds the images decoded for a preview (a small file
// can claim huge dimensions).
const maxPreviewPixels = 25 << 20

// makePreview returns a JPEG thumbnail data URL under 30 KB, or "" when
// the image cannot be decoded.
func makePreview(content []byte) string {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(content))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPreviewPixels {
		return ""
	}
	img, _, err := image.Decode(bytes.NewReader(content))
	if err != nil {
		return ""
	}
	for _, side := range []int{160, 96, 48} {
		for _, q := range []int{70, 40} {
			var buf bytes.Buffer
			if jpeg.Encode(&buf, thumbnail(img, side), &jpeg.Options{Quality: q}) != nil {
				return ""
			}
			url := "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
			if len(url) < maxPreview {
				return url
			}
		}
	}
	return ""
}

// thumbnail scales img to fit in side×side, each target pixel the mean of
// up to 4×4 source samples (standard library only; no full-size copy).
func thumbnail(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := w, h
	if w > side || h > side {
		if w >= h {
			tw, th = side, max(1, h*side/w)
		} else {
			tw, th = max(1, w*side/h), side
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := range th {
		y0, y1 := y*h/th, max((y+1)*h/th, y*h/th+1)
		for x := range tw {
			x0, x1 := x*w/tw, max((x+1)*w/tw, x*w/tw+1)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy += max(1, (y1-y0)/4) {
				for sx := x0; sx < x1; sx += max(1, (x1-x0)/4) {
					cr, cg, cb, ca := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
					r, g, bl, a = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca)
					n++
				}
			}
			o := dst.PixOffset(x, y)
			dst.Pix[o], dst.Pix[o+1], dst.Pix[o+2], dst.Pix[o+3] = uint8(r/n>>8), uint8(g/n>>8), uint8(bl/n>>8), uint8(a/n>>8)
		}
	}
	return dst
}

// progressReader counts bytes read and reports them.
type progressReader struct {
	r      io.Reader
	done   int64
	total  int64
	report func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += int64(n)
		if p.report != nil {
			p.report(p.done, p.total)
		}
	}
	return n, err
}

// download is a streamed file body; Close releases its context.
type download struct {
	progressReader
	body   io.Closer
	cancel context.CancelFunc
}

func (d *download) Close() error {
	err := d.body.Close()
	d.cancel()
	return err
}
