//! Files on the volume the loader was started from (`boot()` in limine.conf terms).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use loader::boot::{EfiStatus, FileError};

use super::alloc::UefiPages;

use uefi::boot::{self, MemoryType, ScopedProtocol};
use uefi::proto::media::file::{File, FileAttribute, FileInfo, FileMode, RegularFile};
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::{CString16, Status};

fn status(s: Status) -> EfiStatus {
    EfiStatus(s.0)
}

/// The boot volume.
pub struct Volume {
    fs: ScopedProtocol<SimpleFileSystem>,
}

impl fmt::Debug for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Volume")
    }
}

impl Volume {
    /// Opens the file system the loader image came from.
    pub fn boot() -> Result<Self, FileError> {
        let fs = boot::get_image_file_system(boot::image_handle())
            .map_err(|e| FileError::NoVolume(status(e.status())))?;
        Ok(Self { fs })
    }

    fn open(&mut self, path: &str) -> Result<RegularFile, FileError> {
        let native: String = path
            .chars()
            .map(|c| if c == '/' { '\\' } else { c })
            .collect();
        let name =
            CString16::try_from(native.as_str()).map_err(|_| FileError::BadPath(path.into()))?;
        let mut root = self
            .fs
            .open_volume()
            .map_err(|e| FileError::Io(path.into(), status(e.status())))?;
        let handle = root
            .open(&name, FileMode::Read, FileAttribute::empty())
            .map_err(|e| match e.status() {
                Status::NOT_FOUND => FileError::NotFound(path.into()),
                s => FileError::Io(path.into(), status(s)),
            })?;
        handle
            .into_regular_file()
            .ok_or_else(|| FileError::NotFound(path.into()))
    }

    fn size(file: &mut RegularFile, path: &str) -> Result<usize, FileError> {
        let info = file
            .get_boxed_info::<FileInfo>()
            .map_err(|e| FileError::Io(path.into(), status(e.status())))?;
        usize::try_from(info.file_size()).map_err(|_| FileError::NoMemory(path.into(), usize::MAX))
    }

    fn read_into(file: &mut RegularFile, path: &str, buf: &mut [u8]) -> Result<(), FileError> {
        let mut done = 0;
        while done < buf.len() {
            let n = file
                .read(&mut buf[done..])
                .map_err(|e| FileError::Io(path.into(), status(e.status())))?;
            if n == 0 {
                return Err(FileError::Io(path.into(), status(Status::END_OF_FILE)));
            }
            done += n;
        }
        Ok(())
    }

    /// Reads a (small) text or data file into a `Vec`.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, FileError> {
        let mut file = self.open(path)?;
        let size = Self::size(&mut file, path)?;
        let mut buf = alloc::vec![0u8; size];
        Self::read_into(&mut file, path, &mut buf)?;
        Ok(buf)
    }

    /// Reads a file into freshly allocated pages of `ty` (e.g. the kernel ELF, which the
    /// Executable File response hands to the kernel page aligned).
    pub fn read_pages(&mut self, path: &str, ty: MemoryType) -> Result<UefiPages, FileError> {
        let mut file = self.open(path)?;
        let size = Self::size(&mut file, path)?;
        let mut pages = super::alloc::pages(ty, size, 4096)
            .map_err(|_| FileError::NoMemory(path.into(), size))?;
        Self::read_into(&mut file, path, loader::boot::Pages::bytes_mut(&mut pages))?;
        Ok(pages)
    }
}
