// Command ferretdb runs FerretDB v1.24.2 through its embeddable package.
//
// A plain `go install .../cmd/ferretdb@v1.24.2` panics at start because its
// build/version/version.txt is generated, not in the module; the embeddable
// package avoids that (SPEC §9). Telemetry is off in this mode.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	handler := flag.String("handler", "postgresql", "backend: postgresql or sqlite")
	postgresqlURL := flag.String("postgresql-url", "postgres://postgres:postgres@127.0.0.1:5432/ferretdb", "PostgreSQL handler URL")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite handler URL (a directory)")
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	pprofAddr := flag.String("pprof-addr", "", "serve Go's pprof on this address (off when empty)")
	flag.Parse()

	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Handler:       *handler,
		PostgreSQLURL: *postgresqlURL,
		SQLiteURL:     *sqliteURL,
		Listener:      ferretdb.ListenerConfig{TCP: *listenAddr},
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f.Run(ctx)
}
