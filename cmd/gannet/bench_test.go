package main

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
)

// BenchmarkServe measures sequential request latency through a real
// `gannet serve` with one local worker per model, over HTTP (JSON and
// binary) and over the SDK, reporting the median and 99th percentile.
//
//	go test -run '^$' -bench Serve -benchtime 1000x ./cmd/gannet
func BenchmarkServe(b *testing.B) {
	in := startServe(b, "--log-level", "warn")
	in.waitReady(b)
	images, _ := testImages(b, 1)
	sdk := in.dial(b)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for _, model := range builtinModels {
		path := in.http + "/v2/models/" + model + "/infer"
		jsonBody := jsonImage(images[0])
		binBody, n := binaryImage(images[0])
		post := func(b *testing.B, body []byte, header map[string]string) {
			req, _ := http.NewRequest("POST", path, bytesReader(body))
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := httpc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			drain(resp)
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		tensor := fp32Tensor("input", []int64{1, 1, 28, 28}, images[0])
		cases := []struct {
			name string
			do   func(b *testing.B)
		}{
			{"http-json", func(b *testing.B) { post(b, jsonBody, nil) }},
			{"http-binary", func(b *testing.B) {
				post(b, binBody, map[string]string{"Inference-Header-Content-Length": strconv.Itoa(n)})
			}},
			{"sdk", func(b *testing.B) {
				if _, err := sdk.Infer(context.Background(), model, []client.Tensor{tensor}); err != nil {
					b.Fatal(err)
				}
			}},
		}
		for _, c := range cases {
			b.Run(model+"/"+c.name, func(b *testing.B) {
				for range 20 { // warm connections and caches
					c.do(b)
				}
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					start := time.Now()
					c.do(b)
					lat = append(lat, time.Since(start))
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
				b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-us")
			})
		}
	}
}
