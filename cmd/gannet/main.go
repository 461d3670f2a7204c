// Command gannet is the Gannet model server: one binary with subcommands.
//
//	gannet serve    serve a model repository over HTTP (OIP v2) and ZeroMQ
//	gannet worker   run a worker process that connects to a server
//	gannet bench    open-loop load generator, or a model's in-process compute time
//	gannet simulate trace-driven autoscaling simulator (Gannet vs Ray Serve vs Knative KPA)
//	gannet keygen   make a CurveZMQ key pair
//	gannet version  print the version
//
// Run `gannet <command> -h` for a command's flags. Only this package reads
// flags and the environment; it turns them into each package's Config.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"syscall"

	"github.com/gannet-ml/gannet/accel/blas"

	// glibc malloc capped at 2 arenas from process start (the soak test's
	// frontend otherwise gathered a dozen, holding ~10 MiB).
	_ "github.com/gannet-ml/gannet/internal/cmalloc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	reexecForBLAS()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serveCmd(args)
	case "worker":
		err = workerCmd(args)
	case "keygen":
		err = keygenCmd(args)
	case "bench":
		err = benchCmd(args)
	case "simulate":
		err = simulateCmd(args)
	case "version", "--version", "-version":
		fmt.Printf("gannet %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gannet: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gannet:", err)
		os.Exit(1)
	}
}

// reexecForBLAS runs the process again with OPENBLAS_CORETYPE set when
// OpenBLAS, which picks its kernels as it loads (before main), has fallen
// back to generic ones on a CPU that runs better ones (blas.BetterCore).
// Workers that serve starts inherit the setting. A value already in the
// environment is left alone, so this runs at most once.
func reexecForBLAS() {
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		return
	}
	core := blas.BetterCore()
	if core == "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	os.Setenv("OPENBLAS_CORETYPE", core)
	err = syscall.Exec(exe, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "gannet: OpenBLAS chose generic kernels and running again with OPENBLAS_CORETYPE=%s failed (%v); going on with them\n", core, err)
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: gannet <command> [flags]

commands:
  serve    serve a model repository over HTTP (KServe OIP v2) and ZeroMQ
  worker   run a worker that connects to a server's worker port
  keygen   make a CurveZMQ key pair (for --curve-secret-key, --authorized-keys)
  bench    open-loop load against a server, or a model's compute time in process
  simulate run autoscaling policies against a simulated cluster on a load trace
  version  print the version

Run 'gannet <command> -h' for the flags of a command.
`)
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
