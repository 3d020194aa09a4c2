package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copilot-proxy/copilot-proxy/internal/testproc"
)

const (
	// readyTimeout bounds the wait for a started server to accept
	// connections.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds a fast shutdown before the server is killed.
	stopTimeout = 30 * time.Second
	// portAttempts: another process may take the free port picked before
	// the server binds it; a new port is tried then.
	portAttempts = 3
)

// server is a running postgres process.
type server struct {
	dir     string // temporary directory: data/ and postgres.log
	port    int
	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // the process's end, once exited is closed
}

// start initialises a cluster in a new temporary directory and starts a
// server on it. It returns what is missing (not an error: the tests skip)
// when PostgreSQL is not installed.
func start() (srv *server, missing string, err error) {
	initdb, postgres, missing := findBinaries()
	if missing != "" {
		return nil, missing, nil
	}
	attr, uid, gid, err := procAttr()
	if err != nil {
		return nil, err.Error(), nil
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if uid >= 0 {
		// The server's user must own the directory: MkdirTemp made it 0700
		// for root.
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, "", err
		}
	}
	if err := runInitdb(initdb, dir, attr()); err != nil {
		return nil, "", err
	}
	for range portAttempts {
		srv, err = launch(postgres, dir, attr())
		if err == nil || !errors.Is(err, errPortTaken) {
			return srv, "", err
		}
	}
	return nil, "", err
}

// findBinaries finds initdb and postgres, or says what is missing.
func findBinaries() (initdb, postgres, missing string) {
	const debian = "/usr/lib/postgresql/*/bin" // every version installed, as Debian lays them out
	initdb, errInitdb := testproc.FindBinary("initdb", debian)
	postgres, errPostgres := testproc.FindBinary("postgres", debian)
	var lack []string
	if errInitdb != nil {
		lack = append(lack, "initdb")
	}
	if errPostgres != nil {
		lack = append(lack, "postgres")
	}
	if len(lack) > 0 {
		return "", "", "the " + strings.Join(lack, " and ") + " binaries, which were not found"
	}
	return initdb, postgres, ""
}

// runInitdb creates the cluster in dir/data: trust authentication, no
// fsync, C locale.
func runInitdb(initdb, dir string, attr *syscall.SysProcAttr) error {
	cmd := exec.Command(initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = attr
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// errPortTaken: the server could not bind its port.
var errPortTaken = errors.New("port taken")

// launch starts postgres on dir/data on a free port and waits until it
// accepts connections.
func launch(postgres, dir string, attr *syscall.SysProcAttr) (*server, error) {
	port, err := testproc.FreePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(postgres, "-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", // TCP only: no socket path to fit or clean up
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300") // parallel tests, each with its stores' pools
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// A file, not a buffer: exec then starts no copying goroutines.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	s := &server{dir: dir, port: port, cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls until the server accepts a connection, exits, or
// readyTimeout passes.
func (s *server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-s.exited:
			log := s.logTail()
			if strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("postgres exited at start (%v):\n%s", s.waitErr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres does not accept connections after %v: %v\n%s", readyTimeout, err, s.logTail())
		}
	}
}

// stop shuts the server down (fast shutdown: SIGINT), kills it if it
// lingers, and removes its directory.
func (s *server) stop() error {
	var errs []error
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			errs = append(errs, fmt.Errorf("postgres did not stop within %v; killed", stopTimeout))
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	errs = append(errs, s.logFile.Close(), os.RemoveAll(s.dir))
	return errors.Join(errs...)
}

// logTail is the end of the server's log, for error messages.
func (s *server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}
