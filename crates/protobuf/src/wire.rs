//! The protobuf wire format: varints, field keys, length-delimited slices and skipping unknown
//! fields. It knows nothing about Kubernetes messages; every read is bounds-checked.

use crate::error::WireError;

/// Protobuf wire types that Kubernetes messages use (groups are rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn varint(&mut self) -> Result<u64, WireError> {
        let mut value: u64 = 0;
        for (i, byte) in self.buf.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            if i == 9 && *byte > 1 {
                return Err(WireError::VarintOverflow);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.buf.len() >= 10 { WireError::VarintOverflow } else { WireError::Truncated })
    }

    /// A field key: field number and wire type.
    pub fn key(&mut self) -> Result<(u32, WireType), WireError> {
        let key = self.varint()?;
        let wire_type = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            other => return Err(WireError::UnsupportedWireType(other as u8)),
        };
        let number = u32::try_from(key >> 3).map_err(|_| WireError::BadFieldNumber)?;
        if number == 0 || number > 0x1fff_ffff {
            return Err(WireError::BadFieldNumber);
        }
        Ok((number, wire_type))
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    pub fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| WireError::Truncated)?)
    }

    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("take(8) returns 8 bytes")))
    }

    pub fn skip(&mut self, wire_type: WireType) -> Result<(), WireError> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Len => self.len_delimited().map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(Reader::new(&[0x96, 0x01]).varint(), Ok(150));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(WireError::Truncated));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).varint(), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&over).varint(), Err(WireError::VarintOverflow));
        assert_eq!(Reader::new(&[0x80; 11]).varint(), Err(WireError::VarintOverflow));
    }

    #[test]
    fn keys() {
        assert_eq!(Reader::new(&[0x0a]).key(), Ok((1, WireType::Len)));
        assert_eq!(Reader::new(&[0x02]).key(), Err(WireError::BadFieldNumber));
        assert_eq!(Reader::new(&[0x0b]).key(), Err(WireError::UnsupportedWireType(3)));
    }

    #[test]
    fn length_beyond_buffer_is_truncated() {
        assert_eq!(Reader::new(&[0x05, 1, 2]).len_delimited(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).len_delimited(), Err(WireError::Truncated));
    }
}
