package wire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeVariants(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Frame
	}{
		{"response with string body", `{"kind":"resp","reqId":"7","code":200,"type":"StringResponse","body":"OK"}`,
			Frame{Kind: KindResponse, RawKind: "resp", ReqID: "7", Code: 200, Type: "StringResponse", Body: json.RawMessage(`"OK"`)}},
		{"numeric reqId and string code", `{"kind":"resp","reqId":7,"code":"429","type":"X"}`,
			Frame{Kind: KindResponse, RawKind: "resp", ReqID: "7", Code: 429, Type: "X"}},
		{"absent body", `{"kind":"resp","reqId":"1","code":200,"type":".ams.GenericSubscribeResponse"}`,
			Frame{Kind: KindResponse, RawKind: "resp", ReqID: "1", Code: 200, Type: ".ams.GenericSubscribeResponse"}},
		{"null body", `{"kind":"resp","reqId":"1","code":200,"type":"X","body":null}`,
			Frame{Kind: KindResponse, RawKind: "resp", ReqID: "1", Code: 200, Type: "X"}},
		{"missing kind, response", `{"reqId":"3","code":200,"type":"X","body":{}}`,
			Frame{Kind: KindResponse, ReqID: "3", Code: 200, Type: "X", Body: json.RawMessage(`{}`)}},
		{"missing kind, request", `{"id":1,"type":"GetClock"}`,
			Frame{Kind: KindRequest, ID: "1", Type: "GetClock"}},
		{"missing kind, notification", `{"type":"ms.MessagingEventNotification","body":{"changes":[]}}`,
			Frame{Kind: KindNotification, Type: "ms.MessagingEventNotification", Body: json.RawMessage(`{"changes":[]}`)}},
		{"request with headers and metadata", `{"kind":"req","id":"a","type":"InitConnection","headers":[{}],"metadata":[{"type":"X"}]}`,
			Frame{Kind: KindRequest, RawKind: "req", ID: "a", Type: "InitConnection", Headers: json.RawMessage(`[{}]`), Metadata: json.RawMessage(`[{"type":"X"}]`)}},
		{"unknown kind", `{"kind":"other","type":"X"}`, Frame{RawKind: "other", Type: "X"}},
		{"unknown fields ignored", `{"kind":"notification","type":"X","extra":{"a":[1,2]}}`,
			Frame{Kind: KindNotification, RawKind: "notification", Type: "X"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, *got)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{``, `x`, `[]`, `"s"`, `{"kind":1}`, `{"reqId":true}`, `{"code":1.5}`, `{"code":"x"}`, `{"type":{}}`, `{"kind":"resp"`} {
		_, err := Decode([]byte(in))
		assert.ErrorIs(t, err, ErrMalformed, in)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\\slash`, "ctl\x00\x01\x1f", "nl\n\r\t", "ünïcödé ✓", "bad\xffutf8", "<>&"} {
		var back string
		require.NoError(t, json.Unmarshal(AppendString(nil, s), &back), "%q", s)
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD, as encoding/json does
		}
		assert.Equal(t, want, back)
	}
}

func TestAppendRequestIsValidJSON(t *testing.T) {
	b := AppendRequest(nil, Request{ID: "id-1", Type: "ms.PublishEvent", Body: json.RawMessage(`{"dialogId":"d"}`), Metadata: json.RawMessage(`[{"type":"ExternalId","id":"x"}]`)})
	assert.JSONEq(t, `{"kind":"req","id":"id-1","type":"ms.PublishEvent","body":{"dialogId":"d"},"metadata":[{"type":"ExternalId","id":"x"}]}`, string(b))
	b = AppendRequest(nil, Request{ID: "0", Type: "GetClock"})
	assert.JSONEq(t, `{"kind":"req","id":"0","type":"GetClock"}`, string(b))
	f, err := Decode(AppendResponse(nil, Response{ReqID: "9", Type: "T", Code: 201, Body: json.RawMessage(`"ok"`)}))
	require.NoError(t, err)
	assert.Equal(t, Frame{Kind: KindResponse, RawKind: "resp", ReqID: "9", Type: "T", Code: 201, Body: json.RawMessage(`"ok"`)}, *f)
}

// SharedExamples returns the documented example payloads in
// ../shared/protocol/examples, or nil when that folder is absent.
func sharedExamples(t testing.TB) map[string][]byte {
	dir := filepath.Join("..", "..", "..", "shared", "protocol", "examples")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil {
			out[filepath.Base(p)] = b
		}
	}
	return out
}

func TestDecodeDocumentedFrames(t *testing.T) {
	ex := sharedExamples(t)
	if len(ex) == 0 {
		t.Skip("../shared/protocol/examples not present")
	}
	n := 0
	for name, b := range ex {
		if len(name) < 4 || (name[:4] != "req_" && name[:6] != "notif_") {
			continue // bodies and other fragments, not frames
		}
		n++
		f, err := Decode(b)
		require.NoError(t, err, name)
		assert.NotEmpty(t, f.Type, name)
		if name[:4] == "req_" {
			if f.ID == "" {
				// Schema-editor seeds without kind and id (INDEX.md): the
				// editor fills them in. They still decode.
				continue
			}
			assert.Equal(t, KindRequest, f.Kind, name)
			assert.NotEmpty(t, f.ID, name)
		} else {
			assert.Equal(t, KindNotification, f.Kind, name)
		}
	}
	assert.Greater(t, n, 30)
}

func FuzzDecode(f *testing.F) {
	for _, b := range sharedExamples(f) {
		f.Add(b)
	}
	for _, s := range []string{`{"kind":"resp","reqId":1,"code":"200","body":"x"}`, `{"type":"X","body":[]}`, `{}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to valid JSON.
		out := AppendRequest(nil, Request{ID: fr.ID, Type: fr.Type, Body: fr.Body, Headers: fr.Headers, Metadata: fr.Metadata})
		if !json.Valid(out) {
			t.Fatalf("re-encoding %q gave invalid JSON %q", data, out)
		}
	})
}

// FuzzDecodeMatchesEncodingJSON checks the hand-written scanner against
// encoding/json: whatever it accepts, encoding/json reads the same members.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, b := range sharedExamples(f) {
		f.Add(b)
	}
	for _, s := range []string{`{"kind":"resp","reqId":"1","code":200,"type":"T","body":{"a":"\"}"}}`, `{"ty\u0070e":"X","body":[1,{"b":[]}]}`, ` { "id" : 12 , "body" : "x" } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		var m map[string]json.RawMessage
		refErr := json.Unmarshal(data, &m)
		if err != nil {
			return // stricter than encoding/json on member types: fine
		}
		if refErr != nil {
			t.Fatalf("Decode accepted %q, encoding/json did not: %v", data, refErr)
		}
		str := func(k string) string {
			var s string
			if raw, ok := m[k]; ok && string(raw) != "null" && json.Unmarshal(raw, &s) != nil {
				s = string(raw) // numeric id
			}
			return s
		}
		if fr.Type != str("type") || fr.RawKind != str("kind") || fr.ID != str("id") || fr.ReqID != str("reqId") {
			t.Fatalf("%q: got %+v, encoding/json read %v", data, fr, m)
		}
		for k, got := range map[string]json.RawMessage{"body": fr.Body, "headers": fr.Headers, "metadata": fr.Metadata} {
			want := m[k]
			if string(want) == "null" {
				want = nil
			}
			if string(got) != string(want) {
				t.Fatalf("%q: %s = %q, encoding/json read %q", data, k, got, want)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	frame := []byte(`{"kind":"resp","reqId":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","type":"ms.PublishEventResponse","code":200,"body":{"sequence":12}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}
