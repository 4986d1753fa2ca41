//go:build windows

package sqlstore

import (
	"errors"
	"os"
	"syscall"
)

// errSharingViolation is ERROR_SHARING_VIOLATION.
const errSharingViolation syscall.Errno = 32

// tryLockFile opens path (created when missing) with no sharing, which
// excludes every other open of the file until the handle is closed; busy
// when another handle (of this or another process) has it open. Windows
// closes the handle when its process ends.
func tryLockFile(path string) (release func(), busy bool, err error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, false, err
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil, syscall.OPEN_ALWAYS,
		syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		if errors.Is(err, errSharingViolation) {
			return nil, true, nil
		}
		return nil, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return func() { syscall.CloseHandle(h) }, false, nil
}
