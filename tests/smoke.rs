//! The smallest end-to-end check: a configuration, a file, a request.
mod common;
use common::*;

#[test]
fn serves_a_file_from_a_minimal_configuration() {
    let server = Server::start_with(
        "server!bind!1!port = 0\n\
         server!bind!1!interface = 127.0.0.1\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = %ROOT%/www\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = common\n",
        |root| {
            write_file(root, "www/hello.txt", "hello\n");
        },
    );
    let r = get(server.addr(), "localhost", "/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
}
