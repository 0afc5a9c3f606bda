//! Where a change is: the walker's place as a preview location.

#[derive(Clone, Debug)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// Where the walker is, as a preview location: a base (`Patient/abc`, `line 3`, or the
/// location of the place a resource without an id sits in) and a path below it.
#[derive(Clone, Debug)]
pub(crate) struct Loc {
    pub(super) base: String,
    /// Whether the path continues the base's own path (`Bundle entry[0].resource` +
    /// `.name[0]`) rather than starting below a resource label (`Patient/abc` + ` name[0]`).
    pub(super) nested: bool,
    pub(super) segs: Vec<Seg>,
}

impl Loc {
    /// A location below a resource label (`Patient/abc`, `line 3`).
    pub(crate) fn label(base: String) -> Self {
        Self {
            base,
            nested: false,
            segs: Vec::new(),
        }
    }

    /// A location that continues another one's path.
    pub(crate) fn continuing(outer: &Loc) -> Self {
        Self {
            base: outer.render(),
            nested: true,
            segs: Vec::new(),
        }
    }

    pub(crate) fn push_key(&mut self, key: &str) {
        self.segs.push(Seg::Key(key.to_owned()));
    }

    pub(crate) fn push_index(&mut self, i: usize) {
        self.segs.push(Seg::Index(i));
    }

    pub(crate) fn pop(&mut self) {
        self.segs.pop();
    }

    pub(crate) fn render(&self) -> String {
        let mut out = self.base.clone();
        for (i, seg) in self.segs.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 || (self.nested && !out.is_empty()) {
                        out.push('.');
                    } else if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(k);
                }
                Seg::Index(n) => {
                    out.push_str(&format!("[{n}]"));
                }
            }
        }
        out
    }
}
