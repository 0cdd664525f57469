// SPDX-License-Identifier: MIT
#include "core/render/atomic_write.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace haserf::render {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Writes `content` to a new temp file next to `path`; returns its name or "" (and error).
std::string write_temp(const std::string& path, std::string_view content, mode_t mode,
                       std::string& error) {
  const auto slash = path.rfind('/');
  std::string temp = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                     "." + path.substr(slash == std::string::npos ? 0 : slash + 1) + ".tmp.XXXXXX";
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    error = errno_text("cannot create temp file in", dir_of(path));
    return "";
  }
  temp.assign(name.data());
  const bool ok = ::fchmod(fd, mode) == 0 && write_all(fd, content) && ::fsync(fd) == 0;
  if (!ok) error = errno_text("cannot write", temp);
  ::close(fd);
  if (!ok) {
    ::unlink(temp.c_str());
    return "";
  }
  return temp;
}

}  // namespace

bool read_file(const std::string& path, std::string& out, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (error) *error = errno_text("cannot open", path);
    return false;
  }
  out.clear();
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (error) *error = errno_text("cannot read", path);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

WriteResult write_file_atomic(const std::string& path, std::string_view content,
                              const WriteOptions& options) {
  WriteResult result;
  std::string previous;
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    result.error = path + " exists and is not a regular file";
    return result;
  }
  if (exists && read_file(path, previous, nullptr) && previous == content) {
    result.outcome = WriteOutcome::kUnchanged;
    return result;
  }
  const mode_t mode = exists ? (st.st_mode & 07777) : 0644;

  std::string temp = write_temp(path, content, mode, result.error);
  if (temp.empty()) return result;

  if (exists && options.keep_backup) {
    // The backup is itself written atomically, so PATH.bak is always a whole old version.
    std::string bak_error;
    const std::string bak = path + ".bak";
    std::string bak_temp = write_temp(bak, previous, mode, bak_error);
    if (bak_temp.empty() || ::rename(bak_temp.c_str(), bak.c_str()) != 0) {
      if (!bak_temp.empty()) ::unlink(bak_temp.c_str());
      ::unlink(temp.c_str());
      result.error = bak_error.empty() ? errno_text("cannot write backup", bak) : bak_error;
      return result;
    }
  }

  auto rename_fn = options.rename_fn ? options.rename_fn
                                     : [](const char* a, const char* b) { return ::rename(a, b); };
  if (rename_fn(temp.c_str(), path.c_str()) == 0) {
    fsync_dir(dir_of(path));
    result.outcome = WriteOutcome::kWritten;
    return result;
  }
  const int rename_errno = errno;
  ::unlink(temp.c_str());
  if (rename_errno != EBUSY && rename_errno != EXDEV) {
    errno = rename_errno;
    result.error = errno_text("cannot rename temp file over", path);
    return result;
  }
  // Single-file bind mounts (containers) cannot be replaced: overwrite in place.
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    result.error = errno_text("cannot open for in-place write", path);
    return result;
  }
  const bool ok = write_all(fd, content) && ::fsync(fd) == 0;
  if (!ok) result.error = errno_text("cannot write in place", path);
  ::close(fd);
  if (ok) {
    result.outcome = WriteOutcome::kWritten;
    result.in_place = true;
  }
  return result;
}

}  // namespace haserf::render
