package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstartTranscript(t *testing.T) {
	t.Setenv("LP_ACCOUNT", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out))
	for _, want := range []string{
		"connected as consumer ", "(an agent joined)",
		"agent: Hi! I'm the lpwindowtest bot.",
		"me:    Hello! I'd like to check my order.",
		"(received by the agent:", "(read by the agent:", "(the agent is typing…)",
		"agent: You said: Hello! I'd like to check my order.",
		"[hello] [bye]",
		"conversation closed by consumer",
	} {
		assert.Contains(t, out.String(), want)
	}
}
