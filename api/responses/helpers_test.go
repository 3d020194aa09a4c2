package responses_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copilot-proxy/copilot-proxy/api/openai"
	"github.com/copilot-proxy/copilot-proxy/api/responses"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadRequest(t testing.TB, name string) *responses.Request {
	t.Helper()
	req, e := responses.ParseRequest(readFile(t, name))
	if e != nil {
		t.Fatalf("%s: %v", name, e)
	}
	return req
}

// sseData is the data of each event of an SSE text, and whether it ended
// with data: [DONE].
func sseData(b []byte) (events [][]byte, done bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		if string(line) == "[DONE]" {
			return events, true
		}
		events = append(events, append([]byte(nil), line...))
	}
	return events, false
}

// chatChunks is the recorded chat stream testdata/<file> decoded, chunk
// by chunk, and whether it ended with data: [DONE].
func chatChunks(t testing.TB, file string) (chunks []*openai.ChatChunk, done bool) {
	t.Helper()
	data, done := sseData(readFile(t, file))
	for _, d := range data {
		c := new(openai.ChatChunk)
		if err := json.Unmarshal(d, c); err != nil {
			t.Fatalf("%s: chunk %s: %v", file, d, err)
		}
		chunks = append(chunks, c)
	}
	return chunks, done
}

// runChatStream feeds a recorded chat stream to StreamFromChat as the
// gateway does: Start, each chunk, then Finish at [DONE] or Fail when the
// stream was cut.
func runChatStream(t testing.TB, req *responses.Request, file string) []responses.Event {
	t.Helper()
	chunks, done := chatChunks(t, file)
	s := responses.NewStreamFromChat(req, "resp_test1", 1764412345)
	events := s.Start()
	for _, c := range chunks {
		events = append(events, s.Chunk(c)...)
	}
	if done {
		return append(events, s.Finish()...)
	}
	return append(events, s.Fail("The upstream stream ended early.", "server_error")...)
}

// describe is an event's golden line: its type and the members that
// matter to a client.
func describe(ev responses.Event) string {
	var e struct {
		Seq          int64           `json:"sequence_number"`
		OutputIndex  *int            `json:"output_index"`
		ItemID       string          `json:"item_id"`
		ContentIndex *int            `json:"content_index"`
		SummaryIndex *int            `json:"summary_index"`
		Delta        *string         `json:"delta"`
		Text         *string         `json:"text"`
		Arguments    *string         `json:"arguments"`
		Item         *responses.Item `json:"item"`
		Response     *struct {
			Status            string                       `json:"status"`
			Output            []responses.Item             `json:"output"`
			Usage             *responses.Usage             `json:"usage"`
			Error             *responses.ResponseError     `json:"error"`
			IncompleteDetails *responses.IncompleteDetails `json:"incomplete_details"`
		} `json:"response"`
	}
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return ev.Type + " INVALID " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Seq, ev.Type)
	if e.OutputIndex != nil {
		fmt.Fprintf(&b, " out=%d", *e.OutputIndex)
	}
	if e.ItemID != "" {
		fmt.Fprintf(&b, " item=%s", e.ItemID)
	}
	if e.ContentIndex != nil {
		fmt.Fprintf(&b, " content=%d", *e.ContentIndex)
	}
	if e.SummaryIndex != nil {
		fmt.Fprintf(&b, " summary=%d", *e.SummaryIndex)
	}
	for _, kv := range []struct {
		k string
		v *string
	}{{"delta", e.Delta}, {"text", e.Text}, {"arguments", e.Arguments}} {
		if kv.v != nil {
			fmt.Fprintf(&b, " %s=%q", kv.k, *kv.v)
		}
	}
	if e.Item != nil {
		b.WriteString(" " + describeItem(e.Item))
	}
	if r := e.Response; r != nil {
		describeResponse(&b, r.Status, r.Output, r.Usage, r.Error, r.IncompleteDetails)
	}
	return b.String()
}

func describeItem(it *responses.Item) string {
	s := fmt.Sprintf("{%s id=%s status=%s", it.Type, it.ID, it.Status)
	switch it.Type {
	case responses.ItemMessage:
		s += fmt.Sprintf(" text=%q", it.Content.PlainText())
	case responses.ItemFunctionCall:
		s += fmt.Sprintf(" call_id=%s ns=%q name=%s args=%q", it.CallID, it.Namespace, it.Name, it.Arguments)
	case responses.ItemReasoning:
		var parts []string
		for _, p := range it.Summary {
			parts = append(parts, p.Text)
		}
		s += fmt.Sprintf(" summary=%q", parts)
		if it.EncryptedContent != nil {
			s += fmt.Sprintf(" encrypted=%q", *it.EncryptedContent)
		}
	}
	return s + "}"
}

func describeResponse(b *strings.Builder, status string, output []responses.Item, u *responses.Usage,
	e *responses.ResponseError, inc *responses.IncompleteDetails) {
	fmt.Fprintf(b, " status=%s", status)
	if inc != nil {
		fmt.Fprintf(b, " incomplete=%s", inc.Reason)
	}
	if e != nil {
		fmt.Fprintf(b, " error=%s:%q", e.Code, e.Message)
	}
	if u != nil {
		fmt.Fprintf(b, " usage=in:%d(cached:%d),out:%d(reasoning:%d),total:%d", u.InputTokens,
			u.InputTokensDetails.CachedTokens, u.OutputTokens, u.OutputTokensDetails.ReasoningTokens, u.TotalTokens)
	}
	for i := range output {
		b.WriteString("\n    " + describeItem(&output[i]))
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
