package lpwindow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// echoHandler answers every request frame with a small response carrying
// its id, reusing its buffers so that it allocates little: the benchmarks
// run it in-process, and its allocations are counted in both raw and sdk.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	ctx := context.Background()
	var in bytes.Buffer
	out := make([]byte, 0, 256)
	for {
		_, rd, err := ws.Reader(ctx)
		if err != nil {
			return
		}
		in.Reset()
		if _, err := in.ReadFrom(rd); err != nil {
			return
		}
		id := frameID(in.Bytes())
		out = append(out[:0], `{"kind":"resp","reqId":"`...)
		out = append(out, id...)
		out = append(out, `","type":"EchoResponse","code":200,"body":{"conversationId":"5ee3a7fe-4d52-4c65-a8c9-0a9e2a28b1e3"}}`...)
		if err := ws.Write(ctx, websocket.MessageText, out); err != nil {
			return
		}
	}
}

// frameID extracts the "id" member's value without decoding the frame.
func frameID(b []byte) []byte {
	i := bytes.Index(b, []byte(`"id":"`))
	if i < 0 {
		return nil
	}
	b = b[i+6:]
	if j := bytes.IndexByte(b, '"'); j >= 0 {
		return b[:j]
	}
	return nil
}

// benchFrame is what the SDK writes for Request(ctx, "Echo", benchBody).
const benchFrame = `{"kind":"req","id":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","type":"Echo","body":{"dialogId":"5ee3a7fe-4d52-4c65-a8c9-0a9e2a28b1e3","event":{"type":"ContentEvent","contentType":"text/plain","message":"hello"}}}`

var benchBody = []byte(`{"dialogId":"5ee3a7fe-4d52-4c65-a8c9-0a9e2a28b1e3","event":{"type":"ContentEvent","contentType":"text/plain","message":"hello"}}`)

func benchServer(b *testing.B) (*httptest.Server, Config) {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	b.Cleanup(srv.Close)
	return srv, Config{
		Account:  "123",
		Domains:  Domains{AsyncMessagingEnt: strings.TrimPrefix(srv.URL, "http://")},
		Insecure: true,
		Token:    mustStatic(b, testJWT(b, "bench")),
	}
}

func rawDial(b *testing.B, srv *httptest.Server) *websocket.Conn {
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws_api/account/123/messaging/consumer?v=3", nil)
	if err != nil {
		b.Fatal(err)
	}
	ws.SetReadLimit(4 << 20)
	return ws
}

func BenchmarkRoundTrip(b *testing.B) {
	srv, cfg := benchServer(b)
	ctx := context.Background()
	frame := []byte(benchFrame)

	// raw: a reader goroutine hands each reply to the writer, as any client
	// that multiplexes requests must (architecture.md measures its floor
	// this way). raw-inline reads on the writing goroutine: a lower bound
	// no multiplexing client can reach, shown for reference.
	b.Run("raw", func(b *testing.B) {
		ws := rawDial(b, srv)
		defer ws.CloseNow()
		replies := make(chan error, 1)
		go func() {
			for {
				_, _, err := ws.Read(ctx)
				replies <- err
				if err != nil {
					return
				}
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
				b.Fatal(err)
			}
			if err := <-replies; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-inline", func(b *testing.B) {
		ws := rawDial(b, srv)
		defer ws.CloseNow()
		b.ReportAllocs()
		for b.Loop() {
			if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
				b.Fatal(err)
			}
			if _, _, err := ws.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		c, err := Dial(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		body := jsonRaw(benchBody)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Request(ctx, "Echo", body); err != nil {
				b.Fatal(err)
			}
		}
	})
	const inflight = 64
	b.Run("raw-64", func(b *testing.B) {
		ws := rawDial(b, srv)
		defer ws.CloseNow()
		b.ReportAllocs()
		b.ResetTimer()
		window := make(chan struct{}, inflight)
		errc := make(chan error, 1)
		go func() {
			for range b.N {
				window <- struct{}{}
				if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
					errc <- err
					return
				}
			}
		}()
		for range b.N {
			if _, _, err := ws.Read(ctx); err != nil {
				b.Fatal(err)
			}
			<-window
		}
		select {
		case err := <-errc:
			b.Fatal(err)
		default:
		}
	})
	b.Run("sdk-64", func(b *testing.B) {
		c, err := Dial(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		body := jsonRaw(benchBody)
		b.ReportAllocs()
		b.SetParallelism((inflight + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Request(ctx, "Echo", body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkIdleConn measures the memory one idle connection costs the
// client (heap plus goroutine stacks), with the server in another process
// so that only the client is counted. Run it with -benchtime=Nx: each
// iteration opens one more connection and keeps it.
func BenchmarkIdleConn(b *testing.B) {
	addr := startEchoProcess(b)
	cfg := Config{
		Account:  "123",
		Domains:  Domains{AsyncMessagingEnt: addr},
		Insecure: true,
		Token:    mustStatic(b, testJWT(b, "bench")),
	}
	measure := func(b *testing.B, open func() func()) {
		var closers []func()
		defer func() {
			for _, c := range closers {
				c()
			}
		}()
		before := memInUse()
		for b.Loop() {
			closers = append(closers, open())
		}
		time.Sleep(100 * time.Millisecond) // let handshakes settle
		after := memInUse()
		b.ReportMetric(float64(after-before)/float64(len(closers)), "B/conn")
	}
	b.Run("raw", func(b *testing.B) {
		measure(b, func() func() {
			ws, _, err := websocket.Dial(context.Background(), "ws://"+addr+"/ws_api/account/123/messaging/consumer?v=3", nil)
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { // a raw client needs a reader to see pings and closes
				defer close(done)
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
			return func() { ws.CloseNow(); <-done }
		})
	})
	b.Run("sdk", func(b *testing.B) {
		measure(b, func() func() {
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			return func() { c.Close() }
		})
	})
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// startEchoProcess runs echoHandler in a child process (this test binary,
// see TestMain) and returns its loopback address.
func startEchoProcess(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoServerEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("echo process: %v", err)
	}
	return strings.TrimSpace(line)
}

const echoServerEnv = "LPWINDOW_ECHO_SERVER"

// serveEchoProcess is the child side of startEchoProcess.
func serveEchoProcess() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, http.HandlerFunc(echoHandler))
}

func jsonRaw(b []byte) json.RawMessage { return json.RawMessage(b) }
