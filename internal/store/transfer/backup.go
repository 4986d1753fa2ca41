package transfer

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/seatwise/seatwise/internal/db"
	"github.com/seatwise/seatwise/internal/sam"
)

// BackupResult describes a finished backup file.
type BackupResult struct {
	File          string `json:"file"`
	Bytes         int64  `json:"bytes"`
	SchemaVersion int64  `json:"schema_version"`
	Source        string `json:"source"`         // sqlite or postgres
	Rows          int64  `json:"rows,omitempty"` // rows copied from PostgreSQL; absent for a SQLite snapshot, which copies pages
}

// Backup writes a consistent copy of the database fromURL names into a new
// SQLite file at file, while other processes (seatwise serve) keep using the
// database:
//
//   - a SQLite database is copied with VACUUM INTO, which reads one snapshot
//     and writes a compacted file;
//   - a PostgreSQL database is copied table by table (Copy) from one
//     REPEATABLE READ snapshot into a new SQLite file migrated to the same
//     schema version. pg_dump is the better tool for large PostgreSQL
//     databases; this gives a file that seatwise restore reads back into
//     either database.
//
// The file is written under a temporary name in file's directory and renamed
// into place when complete and checked (PRAGMA integrity_check), with mode
// 0600 (it holds user data and sealed secrets). An existing file is
// refused (EINVALID) unless overwrite is true. The file is a single
// self-contained SQLite database (rollback journal, no -wal file).
func Backup(ctx context.Context, fromURL, file string, overwrite bool) (*BackupResult, error) {
	kind, target, err := db.Parse(fromURL)
	if err != nil {
		return nil, err
	}
	if file == "" {
		return nil, sam.Errorf(sam.EINVALID, "no backup file named")
	}
	if _, err := os.Stat(file); err == nil && !overwrite {
		return nil, sam.Errorf(sam.EINVALID, "backup file %s exists: choose a new name or pass --force to replace it", file)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "backup file %s", file)
	}
	if kind == db.SQLite {
		if _, err := os.Stat(target); err != nil {
			return nil, sam.Wrap(sam.ENOTFOUND, err, "SQLite database %s", target)
		}
		if sameTarget(db.SQLite, target, file) {
			return nil, sam.Errorf(sam.EINVALID, "the backup file %s is the database itself", file)
		}
	}
	tmp, err := tempPath(file)
	if err != nil {
		return nil, err
	}
	defer removeDB(tmp)

	res := &BackupResult{File: file, Source: string(kind)}
	switch kind {
	case db.SQLite:
		if err := Snapshot(ctx, target, tmp); err != nil {
			return nil, err
		}
	case db.Postgres:
		if err := createPrivate(tmp); err != nil {
			return nil, err
		}
		if err := db.Migrate(ctx, "sqlite://"+tmp); err != nil {
			return nil, err
		}
		r, err := Copy(ctx, fromURL, "sqlite://"+tmp, Options{})
		if err != nil {
			return nil, err
		}
		res.Rows = r.Rows
	}
	if res.SchemaVersion, err = finishFile(ctx, tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "move the backup into place at %s", file)
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, sam.Wrap(sam.EUNAVAILABLE, err, "backup file %s", file)
	}
	res.Bytes = st.Size()
	return res, nil
}

// Snapshot writes a consistent copy of the SQLite database at path into
// the file dst, which must not exist or be empty (VACUUM INTO). It reads one
// snapshot without blocking writers (WAL mode). dst is created with mode
// 0600.
func Snapshot(ctx context.Context, path, dst string) error {
	if err := createPrivate(dst); err != nil {
		return err
	}
	src, err := open(ctx, db.SQLite, path, false)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "copy SQLite database %s into %s", path, dst)
	}
	return nil
}

// finishFile makes the SQLite file at path self-contained (rollback
// journal), checks its integrity and returns its schema version.
func finishFile(ctx context.Context, path string) (int64, error) {
	conn, err := open(ctx, db.SQLite, path, false)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode); err != nil {
		return 0, sam.Wrap(sam.EUNAVAILABLE, err, "finish backup file %s", path)
	}
	var check string
	if err := conn.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return 0, sam.Wrap(sam.EUNAVAILABLE, err, "check backup file %s", path)
	}
	if check != "ok" {
		return 0, sam.Errorf(sam.EUNAVAILABLE, "backup file %s failed its integrity check: %s", path, check)
	}
	return SchemaVersion(ctx, conn)
}

// CheckFile opens the SQLite file at path read-only and returns its schema
// version: ENOTFOUND when it does not exist, EINVALID when it is not a
// Seatwise database or fails SQLite's integrity check.
func CheckFile(ctx context.Context, path string) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, sam.Wrap(sam.ENOTFOUND, err, "backup file %s", path)
	}
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, sam.Wrap(sam.EINVALID, err, "open backup file %s", path)
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return 0, sam.Wrap(sam.EINVALID, err, "backup file %s is not a SQLite database", path)
	}
	if check != "ok" {
		return 0, sam.Errorf(sam.EINVALID, "backup file %s is damaged: %s", path, check)
	}
	v, err := SchemaVersion(ctx, conn)
	if err != nil {
		return 0, sam.Wrap(sam.EINVALID, err, "backup file %s", path)
	}
	return v, nil
}

// createPrivate creates an empty file readable by its owner only.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return sam.Wrap(sam.EUNAVAILABLE, err, "create %s", path)
	}
	return f.Close()
}

// tempPath returns an unused name in the directory of file.
func tempPath(file string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return "", sam.Wrap(sam.EUNAVAILABLE, err, "create a temporary file beside %s", file)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return "", sam.Wrap(sam.EUNAVAILABLE, err, "create a temporary file beside %s", file)
	}
	return name, nil
}

// TempCopy writes a consistent copy of the SQLite file at path to a new
// file beside dir (a temporary name) and returns its name; the caller
// removes it with RemoveFile.
func TempCopy(ctx context.Context, path, dir string) (string, error) {
	tmp, err := tempPath(filepath.Join(dir, filepath.Base(path)))
	if err != nil {
		return "", err
	}
	if err := Snapshot(ctx, path, tmp); err != nil {
		removeDB(tmp)
		return "", err
	}
	return tmp, nil
}

// RemoveFile removes a SQLite file with its -wal, -shm and -journal files.
func RemoveFile(path string) { removeDB(path) }

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
