/*
 * lakeloader: Hadoop's local file system without a process per call.
 *
 * Without Hadoop's native library (libhadoop.so, which pyspark does not ship and Maven Central does not
 * serve), RawLocalFileSystem runs `chmod` for every directory it creates and `ls -ld` for every file status
 * whose permission or owner is read. A Spark write through the S3A staging committer does both for every
 * file and partition directory it stages on local disk: 600 files cost ~3,000 processes forked from the
 * JVM, most of the write stage (bench/RESULTS.md). This class answers the same calls through java.nio,
 * in-process, and leaves everything else to Hadoop's own classes.
 *
 * Compiled by `make install` (javac, against pyspark's own hadoop-client-api) into build/jvm; a local
 * SparkSession puts it on the driver's classpath as fs.file.impl (lib/lakeloader/session.py). EMR never
 * sees it: its nodes have libhadoop.
 */
package io.lakeloader.hadoop;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/** Hadoop's LocalFileSystem (checksums and all) over {@link Raw}. */
public class NioLocalFileSystem extends LocalFileSystem {

  public NioLocalFileSystem() {
    super(new Raw());
  }

  /** RawLocalFileSystem with permissions and owners read and set through java.nio instead of a shell. */
  public static class Raw extends RawLocalFileSystem {

    // Owner, group and other bits, in the order of FsPermission's octal digits (0400 ... 0001).
    private static final PosixFilePermission[] BITS = {
      PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE,
      PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
      PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE,
    };

    @Override
    public void setPermission(Path p, FsPermission permission) throws IOException {
      if (permission.getStickyBit()) { // java.nio cannot set it; Hadoop's chmod can
        super.setPermission(p, permission);
        return;
      }
      short mode = permission.toShort();
      Set<PosixFilePermission> perms = EnumSet.noneOf(PosixFilePermission.class);
      for (int i = 0; i < BITS.length; i++) {
        if ((mode & (0400 >> i)) != 0) {
          perms.add(BITS[i]);
        }
      }
      try {
        Files.setPosixFilePermissions(pathToFile(p).toPath(), perms);
      } catch (NoSuchFileException e) {
        throw (FileNotFoundException) new FileNotFoundException("File " + p + " does not exist").initCause(e);
      } catch (UnsupportedOperationException e) { // not a POSIX file system
        super.setPermission(p, permission);
      }
    }

    @Override
    public FileStatus getFileStatus(Path f) throws IOException {
      FileStatus status = withOwnership(super.getFileStatus(f));
      if (status == null) {
        throw new FileNotFoundException("File " + f + " does not exist");
      }
      return status;
    }

    @Override
    public FileStatus[] listStatus(Path f) throws IOException {
      FileStatus[] listed = super.listStatus(f);
      List<FileStatus> out = new ArrayList<>(listed.length);
      for (FileStatus s : listed) {
        FileStatus full = withOwnership(s);
        if (full != null) { // gone since the directory was read: Hadoop's own listing skips those too
          out.add(full);
        }
      }
      return out.toArray(new FileStatus[0]);
    }

    /**
     * The status with permission, owner and group filled in from java.nio (Hadoop's own status would run
     * `ls -ld` the first time any of them is read); null when the path no longer exists.
     */
    private FileStatus withOwnership(FileStatus s) throws IOException {
      PosixFileAttributes a;
      try {
        a = Files.readAttributes(pathToFile(s.getPath()).toPath(), PosixFileAttributes.class);
      } catch (NoSuchFileException e) {
        return null;
      } catch (UnsupportedOperationException e) {
        return s;
      }
      short mode = 0;
      Set<PosixFilePermission> perms = a.permissions();
      for (int i = 0; i < BITS.length; i++) {
        if (perms.contains(BITS[i])) {
          mode |= (short) (0400 >> i);
        }
      }
      return new FileStatus(s.getLen(), s.isDirectory(), s.getReplication(), s.getBlockSize(),
          s.getModificationTime(), s.getAccessTime(), new FsPermission(mode), a.owner().getName(),
          a.group().getName(), s.getPath());
    }
  }
}
