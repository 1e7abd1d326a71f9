//! HTML -> main text extraction on an html5ever DOM (via `scraper`).
//!
//! The walk is iterative (an explicit stack), so deeply nested pages cannot overflow the thread
//! stack, and pruned subtrees are never visited.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use super::HtmlParams;

/// How an element affects the flow of text around it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Inline,
    /// Starts and ends a line.
    Line,
    /// Starts and ends a paragraph (blank line).
    Paragraph,
    /// Table cell: separated from its neighbours by a space.
    Cell,
}

fn flow_of(tag: &str) -> Flow {
    match tag {
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "pre" | "blockquote" | "table" | "ul"
        | "ol" | "dl" | "section" | "article" | "figure" | "hr" | "address" | "details"
        | "main" | "body" | "fieldset" | "center" => Flow::Paragraph,
        "div" | "li" | "dt" | "dd" | "tr" | "caption" | "figcaption" | "summary" | "legend"
        | "option" | "thead" | "tbody" | "tfoot" | "title" => Flow::Line,
        "td" | "th" => Flow::Cell,
        _ => Flow::Inline,
    }
}

/// Parts of `class`/`id` tokens (split on `-`/`_`) that mark page chrome rather than content.
/// Compared whole, so `ad` matches `ad-slot` but not `read` or `header`.
const BOILERPLATE_PARTS: &[&str] = &[
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "nav",
    "navbar",
    "navigation",
    "navheader",
    "navfooter",
    "menu",
    "menubar",
    "sidebar",
    "sphinxsidebar",
    "breadcrumb",
    "breadcrumbs",
    "footer",
    "masthead",
    "advert",
    "advertisement",
    "ads",
    "ad",
    "sponsored",
    "popup",
    "modal",
    "newsletter",
    "subscribe",
    "share",
    "sharing",
    "social",
    "skiplink",
    "pagination",
    "pager",
    "related",
];

/// ARIA landmark roles of page chrome.
const BOILERPLATE_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "menu",
    "menubar",
    "dialog",
    "alertdialog",
];

fn is_boilerplate_token(token: &str) -> bool {
    token.split(['-', '_']).any(|part| {
        BOILERPLATE_PARTS
            .iter()
            .any(|b| part.eq_ignore_ascii_case(b))
    })
}

fn is_hidden_or_boilerplate(el: &scraper::node::Element) -> bool {
    if el.attr("hidden").is_some()
        || el
            .attr("aria-hidden")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if let Some(style) = el.attr("style") {
        let compact: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.contains("display:none") || compact.contains("visibility:hidden") {
            return true;
        }
    }
    if el.attr("role").is_some_and(|role| {
        BOILERPLATE_ROLES
            .iter()
            .any(|r| role.trim().eq_ignore_ascii_case(r))
    }) {
        return true;
    }
    if el.classes().any(is_boilerplate_token) {
        return true;
    }
    el.id()
        .is_some_and(|id| id.split_ascii_whitespace().any(is_boilerplate_token))
}

/// Nodes a link-density check visits at most: a list larger than this is kept as it is, so nested
/// hostile markup cannot make extraction quadratic.
const LINK_CHECK_NODES: usize = 20_000;

/// Whether a list or table is mostly links: at least three, carrying more than `max` of its text.
fn is_link_list(node: NodeRef<'_, Node>, tag: &str, max: f64) -> bool {
    if !matches!(tag, "ul" | "ol" | "dl" | "table") {
        return false;
    }
    let (mut all, mut linked, mut links, mut seen) = (0usize, 0usize, 0usize, 0usize);
    // (node, inside a link)
    let mut stack = vec![(node, false)];
    while let Some((n, in_link)) = stack.pop() {
        seen += 1;
        if seen > LINK_CHECK_NODES {
            return false;
        }
        match n.value() {
            Node::Text(t) => {
                let c = t.chars().filter(|c| !c.is_whitespace()).count();
                all += c;
                if in_link {
                    linked += c;
                }
            }
            Node::Element(e) => {
                let is_a = e.name() == "a";
                links += usize::from(is_a);
                stack.extend(n.children().map(|c| (c, in_link || is_a)));
            }
            _ => {}
        }
    }
    links >= 3 && all > 0 && linked as f64 > max * all as f64
}

struct Emitter {
    out: String,
    /// Newlines owed before the next text (0, 1 or 2).
    pending_break: u8,
    /// Inside `<pre>`/`<textarea>`: keep whitespace verbatim.
    pre_depth: usize,
}

impl Emitter {
    fn request_break(&mut self, n: u8) {
        self.pending_break = self.pending_break.max(n);
    }

    fn flush_break(&mut self) {
        if self.pending_break == 0 {
            return;
        }
        // drop trailing spaces of the finished line
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            let have = self.out.len() - self.out.trim_end_matches('\n').len();
            for _ in have..usize::from(self.pending_break) {
                self.out.push('\n');
            }
        }
        self.pending_break = 0;
    }

    fn text(&mut self, t: &str) {
        if self.pre_depth > 0 {
            if t.is_empty() {
                return;
            }
            self.flush_break();
            self.out.push_str(t);
            return;
        }
        // HTML whitespace collapsing: any run of ASCII whitespace is one space.
        let mut words = t.split_ascii_whitespace().peekable();
        if words.peek().is_none() {
            if !t.is_empty()
                && self.pending_break == 0
                && !self.out.is_empty()
                && !self.out.ends_with([' ', '\n'])
            {
                self.out.push(' ');
            }
            return;
        }
        let leading_space = t.starts_with(|c: char| c.is_ascii_whitespace());
        self.flush_break();
        if leading_space && !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
        let mut first = true;
        for w in words {
            if !first {
                self.out.push(' ');
            }
            self.out.push_str(w);
            first = false;
        }
        if t.ends_with(|c: char| c.is_ascii_whitespace()) {
            self.out.push(' ');
        }
    }

    fn separator(&mut self) {
        if self.pending_break == 0 && !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
    }
}

/// The subtree to extract from: the single `<main>` / `role="main"` element when `prefer_main` is
/// set and the page has exactly one, else the whole document.
fn content_root<'a>(doc: &'a Html, p: &HtmlParams) -> NodeRef<'a, Node> {
    let root = doc.tree.root();
    if !p.prefer_main {
        return root;
    }
    let mut found = None;
    let mut count = 0;
    for node in root.descendants() {
        let is_main = node.value().as_element().is_some_and(|el| {
            el.name() == "main"
                || el
                    .attr("role")
                    .is_some_and(|r| r.trim().eq_ignore_ascii_case("main"))
        });
        if is_main {
            count += 1;
            if found.is_none() {
                found = Some(node);
            }
        }
    }
    match (count, found) {
        (1, Some(n)) => n,
        _ => root,
    }
}

/// Extract readable text from an HTML document. Entities are decoded by the parser; block
/// elements become line or paragraph breaks; dropped tags and boilerplate subtrees are skipped.
pub(crate) fn extract(html: &str, p: &HtmlParams) -> String {
    let doc = Html::parse_document(html);
    let mut em = Emitter {
        out: String::with_capacity(html.len() / 3),
        pending_break: 0,
        pre_depth: 0,
    };

    // (node, closing): closing entries run the element's end-of-element effects.
    let mut stack: Vec<(NodeRef<'_, Node>, bool)> = vec![(content_root(&doc, p), false)];
    while let Some((node, closing)) = stack.pop() {
        match node.value() {
            Node::Text(t) => em.text(t),
            Node::Element(el) => {
                let tag = el.name();
                let flow = flow_of(tag);
                if closing {
                    match flow {
                        Flow::Paragraph => em.request_break(2),
                        Flow::Line => em.request_break(1),
                        Flow::Cell => em.separator(),
                        Flow::Inline => {}
                    }
                    if tag == "pre" || tag == "textarea" {
                        em.pre_depth = em.pre_depth.saturating_sub(1);
                    }
                    continue;
                }
                if p.drop_tags.iter().any(|d| d.eq_ignore_ascii_case(tag))
                    || (p.drop_boilerplate && is_hidden_or_boilerplate(el))
                    || p.max_link_density.is_some_and(|max| is_link_list(node, tag, max))
                {
                    // A dropped block still separates its neighbours.
                    if flow != Flow::Inline {
                        em.request_break(1);
                    }
                    continue;
                }
                match flow {
                    Flow::Paragraph => em.request_break(2),
                    Flow::Line => em.request_break(1),
                    Flow::Cell => em.separator(),
                    Flow::Inline => {}
                }
                if tag == "br" {
                    em.flush_break();
                    em.out.truncate(em.out.trim_end_matches(' ').len());
                    em.out.push('\n');
                    continue;
                }
                if tag == "pre" || tag == "textarea" {
                    em.pre_depth += 1;
                }
                stack.push((node, true));
                // children in reverse so the first child is popped first
                let children: Vec<_> = node.children().collect();
                stack.extend(children.into_iter().rev().map(|c| (c, false)));
            }
            Node::Document | Node::Fragment => {
                let children: Vec<_> = node.children().collect();
                stack.extend(children.into_iter().rev().map(|c| (c, false)));
            }
            // comments, doctype, processing instructions carry no text
            _ => {}
        }
    }
    em.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(html: &str) -> String {
        extract(html, &HtmlParams::default())
    }

    #[test]
    fn link_lists_are_judged_within_a_bounded_walk() {
        let items = |n: usize| (0..n).map(|i| format!("<li><a href=\"{i}\">item {i}</a></li>")).collect::<String>();
        // A navigation list goes; one too large to judge within the bound is kept whole.
        assert_eq!(ex(&format!("<p>body</p><ul>{}</ul>", items(50))), "body");
        let big = ex(&format!("<p>body</p><ul>{}</ul>", items(LINK_CHECK_NODES)));
        assert!(big.contains("item 0") && big.contains(&format!("item {}", LINK_CHECK_NODES - 1)));
        let keep = HtmlParams { max_link_density: None, ..HtmlParams::default() };
        assert!(extract(&format!("<ul>{}</ul>", items(5)), &keep).contains("item 4"));
    }

    #[test]
    fn blocks_and_entities() {
        let t = ex(
            "<html><body><h1>Title &amp; more</h1><p>One\n  two&nbsp;three</p><p>Four<br>five</p><ul><li>a</li><li>b</li></ul></body></html>",
        );
        assert_eq!(
            t.trim(),
            "Title & more\n\nOne two\u{a0}three\n\nFour\nfive\n\na\nb"
        );
    }

    #[test]
    fn drops_chrome() {
        let t = ex(
            r#"<body><nav><a>Home</a></nav><div class="cookie-banner">We use cookies</div>
            <script>var x = 1;</script><style>p{}</style><p>Kept text.</p><aside class="ads">Ad</aside>
            <div id="sidebar">side</div><div role="navigation">nav</div><p hidden>h</p>
            <p style="display: none">h2</p><footer>foot</footer><div class="reader">read</div></body>"#,
        );
        assert_eq!(t.trim(), "Kept text.\n\nread");
    }

    #[test]
    fn prefer_main_and_pre() {
        let t = ex(
            "<body><div>outside</div><div role=\"main\"><pre>a  b\n  c</pre><p>x</p></div></body>",
        );
        assert_eq!(t.trim(), "a  b\n  c\n\nx");
        let all = extract(
            "<body><div>outside</div><main><p>x</p></main></body>",
            &HtmlParams {
                prefer_main: false,
                ..Default::default()
            },
        );
        assert_eq!(all.trim(), "outside\n\nx");
    }

    #[test]
    fn inline_spacing_and_cells() {
        let t = ex(
            "<p>a<b>b</b> <i>c</i>d</p><table><tr><td>1</td><td>2</td></tr><tr><th>x</th><td>y</td></tr></table>",
        );
        assert_eq!(t.trim(), "ab cd\n\n1 2\nx y");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = "<div>".repeat(5_000) + "deep" + &"</div>".repeat(5_000);
        assert_eq!(ex(&html).trim(), "deep");
    }
}
