//! Reads the Go struct descriptions that a kubectl binary carries for reflection: for every
//! Kubernetes API struct, its fields' `json:"..."` and `protobuf:"..."` tags and whether the
//! field is a pointer. That is the one fact neither k8s-pb nor k8s-openapi records, and it
//! decides whether a zero scalar on the wire is a value (`*int32` replicas = 0) or the Go zero
//! value that `omitempty` drops from JSON (`hostNetwork: false`).
//!
//! Layout assumptions (Go 1.2x `internal/abi`, amd64, non-PIE ELF): type descriptors live in
//! `.rodata`, whose start is the `types` base for name offsets; `.typelink` lists 32-bit
//! offsets of type descriptors from that base.

use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct GoField {
    /// JSON name; empty for `json:",inline"`.
    pub json: String,
    pub omitempty: bool,
    pub pointer: bool,
}

/// Key: Go package path + "." + type name, e.g. `k8s.io/api/apps/v1.DeploymentSpec`.
/// Value: fields by protobuf tag number.
pub type GoStructs = BTreeMap<String, BTreeMap<u32, GoField>>;

const KIND_MASK: u8 = 0x1f;
const KIND_ARRAY: u8 = 17;
const KIND_MAP: u8 = 21;
const KIND_POINTER: u8 = 22;
const KIND_SLICE: u8 = 23;
const KIND_STRUCT: u8 = 25;
const TFLAG_UNCOMMON: u8 = 1;
const TFLAG_EXTRA_STAR: u8 = 2;

struct Section {
    addr: u64,
    offset: usize,
    size: usize,
}

struct Image<'a> {
    file: &'a [u8],
    rodata: Section,
}

impl Image<'_> {
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let rel = usize::try_from(addr.checked_sub(self.rodata.addr)?).ok()?;
        if rel.checked_add(len)? > self.rodata.size {
            return None;
        }
        self.file.get(self.rodata.offset + rel..self.rodata.offset + rel + len)
    }
    fn u8(&self, addr: u64) -> Option<u8> {
        self.bytes(addr, 1).map(|b| b[0])
    }
    fn u64(&self, addr: u64) -> Option<u64> {
        self.bytes(addr, 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn i32(&self, addr: u64) -> Option<i32> {
        self.bytes(addr, 4).map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn varint(&self, mut addr: u64) -> Option<(usize, u64)> {
        let mut value = 0usize;
        let mut shift = 0;
        loop {
            let b = self.u8(addr)?;
            addr += 1;
            value |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                return Some((value, addr));
            }
            if shift > 28 {
                return None;
            }
        }
    }
    /// An `abi.Name`: flags byte, varint length, bytes, then (if flagged) varint length and tag.
    fn name(&self, addr: u64) -> Option<(String, Option<String>)> {
        let flags = self.u8(addr)?;
        let (len, at) = self.varint(addr + 1)?;
        let name = String::from_utf8_lossy(self.bytes(at, len)?).into_owned();
        let mut tag = None;
        if flags & 2 != 0 {
            let (tag_len, tag_at) = self.varint(at + len as u64)?;
            tag = Some(String::from_utf8_lossy(self.bytes(tag_at, tag_len)?).into_owned());
        }
        Some((name, tag))
    }
    fn name_off(&self, off: i32) -> Option<String> {
        let addr = self.rodata.addr.checked_add_signed(i64::from(off))?;
        self.name(addr).map(|(n, _)| n)
    }
    fn kind(&self, ty: u64) -> Option<u8> {
        self.u8(ty + 23).map(|k| k & KIND_MASK)
    }
    fn type_name(&self, ty: u64) -> Option<String> {
        let name = self.name_off(self.i32(ty + 40)?)?;
        let tflag = self.u8(ty + 20)?;
        Some(if tflag & TFLAG_EXTRA_STAR != 0 { name[1..].to_string() } else { name })
    }
    fn struct_pkg_path(&self, ty: u64) -> Option<String> {
        if self.u8(ty + 20)? & TFLAG_UNCOMMON == 0 {
            return None;
        }
        // StructType is 80 bytes (Type 48, PkgPath 8, Fields 24); UncommonType follows it.
        let off = self.i32(ty + 80)?;
        if off == 0 { None } else { self.name_off(off) }
    }
}

fn sections(file: &[u8]) -> Result<(Section, Section), String> {
    let read = |at: usize, len: usize| -> Result<u64, String> {
        let bytes = file.get(at..at + len).ok_or("truncated ELF header")?;
        let mut buf = [0u8; 8];
        buf[..len].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buf))
    };
    if file.get(..5) != Some(b"\x7fELF\x02") {
        return Err("not a 64-bit ELF file".into());
    }
    let shoff = read(0x28, 8)? as usize;
    let shentsize = read(0x3a, 2)? as usize;
    let shnum = read(0x3c, 2)? as usize;
    let shstrndx = read(0x3e, 2)? as usize;
    let header = |i: usize| -> Result<(u64, Section), String> {
        let at = shoff + i * shentsize;
        Ok((
            read(at, 4)?,
            Section { addr: read(at + 16, 8)?, offset: read(at + 24, 8)? as usize, size: read(at + 32, 8)? as usize },
        ))
    };
    let strtab = header(shstrndx)?.1;
    let mut rodata = None;
    let mut typelink = None;
    for i in 0..shnum {
        let (name_at, section) = header(i)?;
        let start = strtab.offset + name_at as usize;
        let end = file[start..].iter().position(|b| *b == 0).map(|p| start + p).ok_or("bad section name")?;
        match &file[start..end] {
            b".rodata" => rodata = Some(section),
            b".typelink" => typelink = Some(section),
            _ => {}
        }
    }
    Ok((rodata.ok_or("no .rodata section")?, typelink.ok_or("no .typelink section (stripped of Go metadata?)")?))
}

/// Parses `json:"name,omitempty" protobuf:"varint,1,opt,name=x"` into (json, omitempty, tag).
fn parse_tag(tag: &str) -> Option<(String, bool, u32)> {
    let json = tag.split("json:\"").nth(1)?.split('"').next()?;
    let proto = tag.split("protobuf:\"").nth(1)?.split('"').next()?;
    let number = proto.split(',').nth(1)?.parse().ok()?;
    let mut parts = json.split(',');
    let name = parts.next().unwrap_or_default().to_string();
    let omitempty = parts.any(|p| p == "omitempty");
    Some((name, omitempty, number))
}

/// Reads every Kubernetes struct with protobuf tags reachable from the binary's type links.
pub fn read(binary: &[u8]) -> Result<GoStructs, String> {
    let (rodata, typelink) = sections(binary)?;
    let image = Image { file: binary, rodata };
    let links = binary.get(typelink.offset..typelink.offset + typelink.size).ok_or("truncated .typelink")?;
    let mut queue: Vec<u64> = links
        .chunks_exact(4)
        .filter_map(|c| image.rodata.addr.checked_add_signed(i64::from(i32::from_le_bytes(c.try_into().ok()?))))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = GoStructs::new();
    while let Some(ty) = queue.pop() {
        if !seen.insert(ty) {
            continue;
        }
        let Some(kind) = image.kind(ty) else { continue };
        match kind {
            KIND_POINTER | KIND_SLICE | KIND_ARRAY => queue.extend(image.u64(ty + 48)),
            KIND_MAP => queue.extend(image.u64(ty + 48).into_iter().chain(image.u64(ty + 56))),
            KIND_STRUCT => {
                let (Some(fields_at), Some(count)) = (image.u64(ty + 56), image.u64(ty + 64)) else { continue };
                let mut fields = BTreeMap::new();
                for i in 0..count.min(4096) {
                    let entry = fields_at + 24 * i;
                    let (Some(name_at), Some(field_ty)) = (image.u64(entry), image.u64(entry + 8)) else { break };
                    queue.push(field_ty);
                    let Some((_, Some(tag))) = image.name(name_at) else { continue };
                    let Some((json, omitempty, number)) = parse_tag(&tag) else { continue };
                    let pointer = image.kind(field_ty) == Some(KIND_POINTER);
                    fields.insert(number, GoField { json, omitempty, pointer });
                }
                if fields.is_empty() {
                    continue;
                }
                let (Some(pkg), Some(name)) = (image.struct_pkg_path(ty), image.type_name(ty)) else { continue };
                let short = name.split_once('.').map_or(name.as_str(), |(_, n)| n);
                out.insert(format!("{pkg}.{short}"), fields);
            }
            _ => {}
        }
    }
    // Sanity check against a field whose shape is known: DeploymentSpec.replicas is `*int32`.
    let replicas = out.get("k8s.io/api/apps/v1.DeploymentSpec").and_then(|f| f.get(&1));
    match replicas {
        Some(f) if f.pointer && f.json == "replicas" && f.omitempty => Ok(out),
        _ => Err("Go type descriptors not understood (apps/v1 DeploymentSpec.replicas not found as *int32)".into()),
    }
}
