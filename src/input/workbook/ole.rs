//! OLE compound files (MS-CFB) before `calamine` opens them. An `.xls` keeps its records in a
//! `Workbook` stream; Excel's password-protected `.xlsx` is a compound file too, holding
//! `EncryptionInfo` and `EncryptedPackage` streams. This reader is small and strict: every
//! sector it follows must lie inside the file (a file still being copied is named as cut off,
//! where `calamine` panics), and a chain may not loop.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Result};

const FREE: u32 = 0xFFFF_FFFF;
const END: u32 = 0xFFFF_FFFE;

/// What is inside a compound file, as far as reading it goes.
pub enum Ole {
    /// An `.xls`: its `Workbook` (or `Book`) stream.
    Xls(Vec<u8>),
}

/// Opens a compound file and returns its workbook stream, or says why it cannot be read.
pub fn open(path: &Path, max_stream: u64) -> Result<Ole> {
    let mut cfb = Cfb::open(path)?;
    let dir = cfb.directory()?;
    let named = |want: &str| {
        dir.iter()
            .find(|e| e.kind == 2 && e.name.eq_ignore_ascii_case(want))
    };
    if named("EncryptedPackage").is_some() || named("EncryptionInfo").is_some() {
        bail!(
            "the workbook is password-protected (encrypted): open it in Excel with its password, \
             save a copy without one (File > Info > Protect Workbook > Encrypt with Password, \
             clear it), and run again on that copy"
        );
    }
    let Some(book) = named("Workbook").or_else(|| named("Book")).cloned() else {
        bail!("it is an OLE file (an old Office format) that holds no workbook: a Word or other Office document?");
    };
    if book.size > max_stream {
        bail!(
            "its workbook stream is {}, more than the {} an .xls may hold here: save it as .xlsx",
            super::limits::size(book.size),
            super::limits::size(max_stream)
        );
    }
    let root = dir.first().cloned();
    Ok(Ole::Xls(cfb.stream(&book, root.as_ref())?))
}

/// A directory entry: name, kind (1 storage, 2 stream, 5 root), first sector, size.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    kind: u8,
    start: u32,
    size: u64,
}

struct Cfb {
    file: File,
    len: u64,
    shift: u32,
    mini_cutoff: u64,
    mini_fat_start: u32,
    dir_start: u32,
    fat: Vec<u32>,
}

/// The sectors of a chain, which may not loop or leave the table.
fn chain(start: u32, table: &[u32]) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    let mut at = start;
    while at != END {
        if at as usize >= table.len() || out.len() > table.len() {
            bail!("it is an OLE file with a broken sector chain: the file is damaged or cut off");
        }
        out.push(at);
        at = table[at as usize];
    }
    Ok(out)
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn cut_off() -> anyhow::Error {
    anyhow::anyhow!(
        "the file is cut off (it ends before the parts it lists): if it is still being copied, \
         wait and run again; else it is damaged"
    )
}

impl Cfb {
    fn open(path: &Path) -> Result<Cfb> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut h = [0u8; 512];
        if len < 512 || file.read_exact(&mut h).is_err() {
            return Err(cut_off());
        }
        let shift = u32::from(u16::from_le_bytes([h[0x1E], h[0x1F]]));
        if shift != 9 && shift != 12 {
            bail!("it is an OLE file with a damaged header (sector size 2^{shift})");
        }
        let mut cfb = Cfb {
            file,
            len,
            shift,
            mini_cutoff: u64::from(u32_at(&h, 0x38)),
            mini_fat_start: u32_at(&h, 0x3C),
            dir_start: u32_at(&h, 0x30),
            fat: Vec::new(),
        };
        let fat_count = u64::from(u32_at(&h, 0x2C));
        if fat_count << shift > len {
            return Err(cut_off());
        }
        // The sectors of the FAT: 109 named in the header, the rest in the DIFAT chain.
        let mut fat_sectors: Vec<u32> = (0..109)
            .map(|i| u32_at(&h, 0x4C + 4 * i))
            .take_while(|&s| s != FREE)
            .collect();
        let mut next = u32_at(&h, 0x44);
        let per = (1usize << shift) / 4;
        let mut seen = 0u64;
        while next != END && next != FREE && (fat_sectors.len() as u64) < fat_count {
            seen += 1;
            if seen > fat_count + 1 {
                bail!("it is an OLE file whose sector table loops: the file is damaged");
            }
            let s = cfb.sector(next)?;
            fat_sectors.extend(
                (0..per - 1)
                    .map(|i| u32_at(&s, 4 * i))
                    .take_while(|&x| x != FREE),
            );
            next = u32_at(&s, 4 * (per - 1));
        }
        fat_sectors.truncate(fat_count as usize);
        let mut fat = Vec::with_capacity(fat_sectors.len() * per);
        for s in fat_sectors {
            let b = cfb.sector(s)?;
            fat.extend((0..per).map(|i| u32_at(&b, 4 * i)));
        }
        // Every sector in use must be in the file.
        if let Some(last) = fat.iter().rposition(|&x| x != FREE) {
            if ((last as u64 + 2) << shift) > len {
                return Err(cut_off());
            }
        }
        cfb.fat = fat;
        Ok(cfb)
    }

    fn sector(&mut self, n: u32) -> Result<Vec<u8>> {
        let size = 1u64 << self.shift;
        let at = (u64::from(n) + 1) << self.shift;
        if n >= 0xFFFF_FFFA || at + size > self.len {
            return Err(cut_off());
        }
        let mut buf = vec![0u8; size as usize];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut buf).map_err(|_| cut_off())?;
        Ok(buf)
    }

    /// The bytes of a chain: `size` of them, or all.
    fn read_chain(&mut self, start: u32, size: Option<u64>) -> Result<Vec<u8>> {
        let chain = chain(start, &self.fat)?;
        let whole = (chain.len() as u64) << self.shift;
        let size = size.unwrap_or(whole);
        if whole < size {
            return Err(cut_off());
        }
        let mut out = Vec::with_capacity(size as usize);
        for s in chain {
            if out.len() as u64 >= size {
                break;
            }
            out.extend(self.sector(s)?);
        }
        out.truncate(size as usize);
        Ok(out)
    }

    fn directory(&mut self) -> Result<Vec<Entry>> {
        let chain = chain(self.dir_start, &self.fat)?;
        let mut out = Vec::new();
        for s in chain {
            let b = self.sector(s)?;
            for e in b.chunks_exact(128) {
                let name_len = usize::from(u16::from_le_bytes([e[64], e[65]])).min(64);
                let units: Vec<u16> = e[..name_len]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                let size = if self.shift == 9 {
                    u64::from(u32_at(e, 120))
                } else {
                    u64::from(u32_at(e, 120)) | u64::from(u32_at(e, 124)) << 32
                };
                out.push(Entry {
                    name: String::from_utf16_lossy(&units),
                    kind: e[66],
                    start: u32_at(e, 116),
                    size,
                });
            }
        }
        Ok(out)
    }

    fn stream(&mut self, e: &Entry, root: Option<&Entry>) -> Result<Vec<u8>> {
        if e.size >= self.mini_cutoff {
            return self.read_chain(e.start, Some(e.size));
        }
        // A small stream lives in the mini stream, 64-byte sectors inside the root's chain.
        let Some(root) = root.filter(|r| r.kind == 5) else {
            bail!("it is an OLE file without a root entry: the file is damaged");
        };
        if root.size > self.len {
            return Err(cut_off());
        }
        let container = self.read_chain(root.start, Some(root.size))?;
        let mini_fat_bytes = self.read_chain(self.mini_fat_start, None)?;
        let mini_fat: Vec<u32> = mini_fat_bytes
            .chunks_exact(4)
            .map(|c| u32_at(c, 0))
            .collect();
        let mut out = Vec::with_capacity(e.size as usize);
        for m in chain(e.start, &mini_fat)? {
            let at = m as usize * 64;
            let Some(bytes) = container.get(at..at + 64) else {
                return Err(cut_off());
            };
            out.extend_from_slice(bytes);
        }
        if (out.len() as u64) < e.size {
            return Err(cut_off());
        }
        out.truncate(e.size as usize);
        Ok(out)
    }
}
