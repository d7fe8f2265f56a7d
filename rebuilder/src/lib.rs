//! reprolog-rebuilder: read Go build info, plan and run a hermetic rebuild,
//! compare bit for bit and explain any difference.

pub mod buildinfo;
pub mod goquote;
