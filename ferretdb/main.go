// Command ferretdb runs FerretDB v1.24.2 through its embeddable package.
//
// A plain `go install .../cmd/ferretdb@v1.24.2` panics at start because its
// build/version/version.txt is generated, not in the module; the embeddable
// package avoids that (SPEC §9). Telemetry is off in this mode.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os/signal"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	handler := flag.String("handler", "postgresql", "backend: postgresql or sqlite")
	postgresqlURL := flag.String("postgresql-url", "postgres://postgres:postgres@127.0.0.1:5432/ferretdb", "PostgreSQL handler URL")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite handler URL (a directory)")
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017",
		"TCP address to listen on; a comma-separated list listens on each (the others forward to the first)")
	pprofAddr := flag.String("pprof-addr", "", "serve Go's pprof on this address (off when empty)")
	flag.Parse()

	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}

	addrs := strings.Split(*listenAddr, ",")
	for _, extra := range addrs[1:] {
		forward(strings.TrimSpace(extra), addrs[0])
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Handler:       *handler,
		PostgreSQLURL: *postgresqlURL,
		SQLiteURL:     *sqliteURL,
		Listener:      ferretdb.ListenerConfig{TCP: addrs[0]},
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f.Run(ctx)
}

// forward listens on addr and relays every connection to target: FerretDB's embeddable
// package listens on one TCP address, and one backend per process keeps its metadata
// cache coherent (two FerretDB processes on one database would not).
func forward(addr, target string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go relay(client.(*net.TCPConn), target)
		}
	}()
}

// relay copies both ways until either side closes; a peer gone without a FIN is found by
// TCP keepalive (on by default for accepted connections), which ends both directions.
func relay(client *net.TCPConn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		log.Printf("forward %s -> %s: %v", client.RemoteAddr(), target, err)
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done
}
