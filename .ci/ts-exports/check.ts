// Reads the connectjwt policy of a user's generated service through the
// options extension exported by @connectjwt/connectjwt.
import { getOption } from "@bufbuild/protobuf";
import { policy } from "@connectjwt/connectjwt/connectjwt/v1/options_pb.js";
import { AcmeService } from "./gen/acme/v1/acme_pb.js";

const p = getOption(AcmeService.method.hello, policy);
if (p.public !== true) {
  throw new Error(`policy of AcmeService.Hello: public = ${p.public}, want true`);
}
console.log("ts exports: the policy option resolves from @connectjwt/connectjwt");
