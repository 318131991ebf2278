//! Hadoop's configuration files (`core-site.xml`, `hdfs-site.xml`), as the HDFS journal store
//! and HDFS under-file-systems read them: the files `alluxio.underfs.hdfs.configuration` lists.

use std::collections::HashMap;
use std::path::Path;

use super::name;

/// The properties of the `:`-separated Hadoop files `files`, later files winning. With
/// `explicit` false (Alluxio's default list) files that do not exist are skipped, as Alluxio
/// does; a file a site names must exist. The error names the file and what is wrong.
pub fn properties(files: &str, explicit: bool) -> Result<HashMap<String, String>, String> {
    let mut properties = HashMap::new();
    for file in files.split(':').filter(|file| !file.trim().is_empty()) {
        let path = Path::new(file.trim());
        if !explicit && !path.exists() {
            continue;
        }
        properties.extend(read_file(path)?);
    }
    Ok(properties)
}

/// The `<property><name/><value/></property>` pairs of one Hadoop configuration file.
fn read_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let fail = |why: String| {
        format!(
            "cannot read the Hadoop configuration {} ({}): {why}",
            path.display(),
            name::UNDERFS_HDFS_CONFIGURATION
        )
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let document = roxmltree::Document::parse(&text).map_err(|e| fail(e.to_string()))?;
    let root = document.root_element();
    if root.tag_name().name() != "configuration" {
        return Err(fail("the top element is not <configuration>".into()));
    }
    let child_text = |property: roxmltree::Node, tag: &str| {
        property
            .children()
            .find(|child| child.tag_name().name() == tag)
            .map(|child| child.text().unwrap_or_default().trim().to_string())
    };
    let mut pairs = Vec::new();
    for property in root.children().filter(|node| node.tag_name().name() == "property") {
        match (child_text(property, "name"), child_text(property, "value")) {
            (Some(key), Some(value)) if !key.is_empty() => pairs.push((key, value)),
            _ => {
                let line = document.text_pos_at(property.range().start).row;
                return Err(fail(format!(
                    "the <property> on line {line} lacks a <name> or <value>"
                )));
            }
        }
    }
    Ok(pairs)
}
