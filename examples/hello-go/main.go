// hello-go: a small HTTP service using only Go's standard library.
//
//	GET /        -> a greeting
//	GET /healthz -> "ok" (the health path in default.json)
//
// It listens on $PORT (default 8080), as it would in its container.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func greeting(name string) string {
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("Hello, %s!", name)
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, greeting(""))
	})
	return mux
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	log.Printf("hello-go listening on port %s", port)
	log.Fatal(http.ListenAndServe(":"+port, handler()))
}
