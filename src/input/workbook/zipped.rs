//! ZIP workbooks (xlsx, ods) before `calamine` sees them: the central directory's size, which
//! kind the archive is (by its `mimetype` entry and content types, not by the name), and
//! reading parts through [`Capped`] so that no part inflates past its limit.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, Context, Result};
use quick_xml::events::BytesStart;

use super::limits::{self, Capped, MAX_PART, MAX_ZIP_ENTRIES};

const ODS_MIME: &str = "application/vnd.oasis.opendocument.spreadsheet";

/// Which reader a ZIP workbook needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Xlsx,
    Ods,
}

/// An open ZIP workbook, its parts found the way `calamine` finds them (case-insensitively).
pub struct Zipped {
    zip: zip::ZipArchive<BufReader<File>>,
    names: HashMap<String, String>,
    pub kind: Kind,
}

impl Zipped {
    pub fn open(path: &Path) -> Result<Zipped> {
        let mut file = File::open(path)?;
        let entries = entry_count(&mut file)?;
        if entries > MAX_ZIP_ENTRIES {
            bail!(
                "the archive has {} entries, more than the {} a workbook may have",
                limits::thousands(entries),
                limits::thousands(MAX_ZIP_ENTRIES)
            );
        }
        file.seek(SeekFrom::Start(0))?;
        let zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
            anyhow::anyhow!(
                "it is not a readable ZIP archive ({e}): the file is damaged or cut off (still \
                 being copied?)"
            )
        })?;
        let names = zip
            .file_names()
            .filter_map(|n| n.ok())
            .map(|n| (n.replace('\\', "/").to_ascii_lowercase(), n.to_string()))
            .collect();
        let mut z = Zipped {
            zip,
            names,
            kind: Kind::Xlsx,
        };
        z.kind = z.kind()?;
        Ok(z)
    }

    /// The archive's kind, from its contents.
    fn kind(&mut self) -> Result<Kind> {
        if self.has("mimetype") {
            let mime = String::from_utf8_lossy(&self.read("mimetype", 256)?).into_owned();
            let mime = mime.trim();
            if mime.starts_with(ODS_MIME) {
                return Ok(Kind::Ods);
            }
            bail!(
                "it is an OpenDocument file of another kind ({}), not a spreadsheet",
                mime.escape_debug()
            );
        }
        for (part, what) in [
            ("word/document.xml", "a Word document"),
            ("ppt/presentation.xml", "a PowerPoint presentation"),
        ] {
            if self.has(part) {
                bail!("it is {what}, not a workbook");
            }
        }
        if self.has("xl/workbook.bin") {
            bail!("it is a binary workbook (.xlsb), which is not read: save it as .xlsx");
        }
        if self.has("[content_types].xml") || self.has("_rels/.rels") {
            return Ok(Kind::Xlsx);
        }
        if self.has("content.xml") {
            bail!("it looks like an OpenDocument spreadsheet but has no mimetype entry: save it again");
        }
        bail!(
            "it is a ZIP archive but not a workbook (no [Content_Types].xml as in xlsx, no \
             mimetype as in ods)"
        )
    }

    /// True if the archive holds `path` (compared as `calamine` compares).
    pub fn has(&self, path: &str) -> bool {
        self.names.contains_key(&path.to_ascii_lowercase())
    }

    /// A part, inflated through [`Capped`] (`max` bytes at most).
    pub fn part(
        &mut self,
        path: &str,
        max: u64,
    ) -> Result<Option<Capped<zip::read::ZipFile<'_, BufReader<File>>>>> {
        let Some(name) = self.names.get(&path.to_ascii_lowercase()).cloned() else {
            return Ok(None);
        };
        let f = self
            .zip
            .by_name(&name)
            .with_context(|| format!("cannot open the part {name}"))?;
        Ok(Some(Capped::new(f, &name, max)))
    }

    /// A whole part of at most `max` bytes (empty if missing).
    pub fn read(&mut self, path: &str, max: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(mut p) = self.part(path, max)? {
            if let Err(e) = p.read_to_end(&mut out) {
                match p.tripped() {
                    Some(why) => bail!("{why}"),
                    None => return Err(e).with_context(|| format!("cannot read the part {path}")),
                }
            }
        }
        Ok(out)
    }

    /// Reads a part through to its end for its limits only (what `calamine` reads whole).
    pub fn drain(&mut self, path: &str) -> Result<()> {
        if let Some(mut p) = self.part(path, MAX_PART)? {
            if let Err(e) = std::io::copy(&mut p, &mut std::io::sink()) {
                match p.tripped() {
                    Some(why) => bail!("{why}"),
                    None => return Err(e).with_context(|| format!("cannot read the part {path}")),
                }
            }
        }
        Ok(())
    }
}

/// The number of entries the end of central directory record gives (ZIP64 too), read before
/// any listing is built (a listing of millions of entries is itself a bomb).
fn entry_count(file: &mut File) -> Result<u64> {
    let len = file.metadata()?.len();
    let tail_len = len.min(65_557);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let Some(at) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
    else {
        bail!(
            "it is not a complete ZIP archive (its directory at the end is missing): the file \
             is cut off (still being copied?) or damaged"
        );
    };
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([tail[i], tail[i + 1]]));
    let mut count = u16_at(at + 10).max(u16_at(at + 8));
    // A ZIP64 locator sits just before the record; its record gives 64-bit counts.
    if at >= 20 && tail[at - 20..at - 16] == [0x50, 0x4b, 0x06, 0x07] {
        let mut off = [0u8; 8];
        off.copy_from_slice(&tail[at - 12..at - 4]);
        let record = u64::from_le_bytes(off);
        let mut rec = [0u8; 56];
        if file.seek(SeekFrom::Start(record)).is_ok() && file.read_exact(&mut rec).is_ok() {
            let mut n = [0u8; 8];
            n.copy_from_slice(&rec[32..40]);
            count = count.max(u64::from_le_bytes(n));
        }
    }
    Ok(count)
}

/// An attribute by its qualified name (`table:name`) or, for `local`, by its local name.
pub fn attr(e: &BytesStart<'_>, key: &str, local: bool) -> Result<Option<String>> {
    for a in e.attributes().with_checks(false) {
        let a = a?;
        let name: &str = a.key.as_ref();
        let hit = if local {
            name.rsplit(':').next() == Some(key)
        } else {
            name == key
        };
        if hit {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

/// An XML reader configured as `calamine` configures its own.
pub fn xml<R: std::io::BufRead>(r: R) -> quick_xml::Reader<R> {
    let mut x = quick_xml::Reader::from_reader(r);
    let c = x.config_mut();
    c.check_end_names = false;
    c.trim_text(false);
    c.check_comments = false;
    c.expand_empty_elements = true;
    x
}
